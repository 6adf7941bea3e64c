"""CLUSTER_UNAVAILABLE: the API reaches the API server through a TCP proxy this test stops and restarts.

The shared API server keeps running (others use it); cutting the proxy is, for the API, the same as
the API server going away: connections are reset and new ones are refused.
"""

# ruff: noqa: E402  (api_fixtures is registered for assertion rewriting before it is imported)
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

pytest.register_assert_rewrite("api_fixtures")

from api_fixtures import Api, Reply, assert_error, start_api
from tcp_proxy import TcpProxy, proxied_kubeconfig, upstream

from harness import Cluster
from kubefoundry.operator.models.deployment import KFD
from kubefoundry.operator.runtime import kube as k
from support import eventually

pytest_plugins = ["api_fixtures"]


@pytest.fixture
async def proxy(cluster: Cluster, tmp_path: Path) -> AsyncIterator[tuple[TcpProxy, Path]]:
    tcp = TcpProxy(*upstream(cluster.kubeconfig))
    await tcp.start()
    kubeconfig = proxied_kubeconfig(cluster.kubeconfig, tcp.port, tmp_path / "proxied.kubeconfig")
    yield tcp, kubeconfig
    await tcp.stop()


@pytest.fixture
async def proxied_kube(proxy: tuple[TcpProxy, Path]) -> AsyncIterator[k.Kube]:
    client = await k.Kube.connect(str(proxy[1]), timeout=5.0)
    yield client
    await client.close()


def kfd(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "kubefoundry.io/v1alpha1",
        "kind": "KubeFoundryDeployment",
        "metadata": {"name": name},
        "spec": {"modelId": "Qwen/Qwen3-0.6B", "provider": "dynamo"},
    }


async def _names(api: Api, namespace: str) -> list[str] | None:
    reply = await api.get("/api/deployments", namespace=namespace)
    return [d["name"] for d in reply.body["deployments"]] if reply.status == 200 else None


def _unavailable(reply: Reply) -> None:
    assert_error(reply, 503, "CLUSTER_UNAVAILABLE")
    assert reply.headers.get("Retry-After")


async def test_unavailable_then_recovers(
    api: Api,  # ensures the CRDs are installed
    kube: k.Kube,
    proxied_kube: k.Kube,
    proxy: tuple[TcpProxy, Path],
    namespace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KUBEFOUNDRY_NAMESPACE", namespace)
    tcp, _ = proxy
    server = await start_api(proxied_kube)
    try:
        await server.wait_synced()
        await kube.create(KFD, kfd("before"), namespace)
        await eventually(lambda: _has(server, namespace, ["before"]), 30, "the deployment in the API")

        await tcp.stop()

        async def down() -> bool:
            return (await server.get("/api/deployments", namespace=namespace)).status == 503

        await eventually(down, 30, "the API to notice the cluster is gone")
        _unavailable(await server.get("/api/deployments", namespace=namespace))
        _unavailable(await server.get("/api/deployments/before", namespace=namespace))
        _unavailable(await server.get("/api/cluster/gpus"))
        _unavailable(await server.get("/api/settings"))
        _unavailable(await server.call("PUT", "/api/settings", json_body={"activeProviderId": "dynamo"}))
        _unavailable(
            await server.call(
                "POST", "/api/deployments", json_body={"name": "x", "namespace": namespace, "modelId": "a/b"}
            )
        )
        _unavailable(await server.call("DELETE", "/api/deployments/before", params={"namespace": namespace}))
        status = await server.get("/api/cluster/status")
        assert status.status == 200
        assert status.body["connected"] is False and status.body["providerInstalled"] is False
        assert (await server.get("/api/health")).status == 200
        assert (await server.get("/api/models")).status == 200

        # Changes made while the API was cut off show up after it reconnects (relist).
        await kube.create(KFD, kfd("during"), namespace)
        await kube.delete(KFD, "before", namespace)
        await tcp.start()  # same port

        await eventually(lambda: _has(server, namespace, ["during"]), 30, "the API to recover")
        status = await server.get("/api/cluster/status")
        assert status.body["connected"] is True
        created = await server.call(
            "POST", "/api/deployments", json_body={"name": "after", "namespace": namespace, "modelId": "a/b"}
        )
        assert created.status == 201, created
    finally:
        await server.client.close()


async def _has(api: Api, namespace: str, names: list[str]) -> bool:
    return await _names(api, namespace) == names


async def test_starts_while_the_cluster_is_unreachable(
    api: Api, proxied_kube: k.Kube, proxy: tuple[TcpProxy, Path], namespace: str, kube: k.Kube
) -> None:
    tcp, _ = proxy
    await tcp.stop()
    await kube.create(KFD, kfd("waiting"), namespace)
    server = await start_api(proxied_kube)
    try:
        _unavailable(await server.get("/api/deployments", namespace=namespace))
        status = await server.get("/api/cluster/status")
        assert (status.status, status.body["connected"]) == (200, False)
        assert (await server.get("/api/health")).status == 200

        await tcp.start()
        await eventually(lambda: _has(server, namespace, ["waiting"]), 30, "the API to connect")

        async def gpus_back() -> bool:  # each cache reconnects on its own backoff schedule
            return (await server.get("/api/cluster/gpus")).status == 200

        await eventually(gpus_back, 30, "the GPU view to recover")
    finally:
        await server.client.close()

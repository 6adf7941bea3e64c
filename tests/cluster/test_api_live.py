"""GET /api/deployments/events against a real API server: the snapshot, live changes, resuming with
Last-Event-ID, namespace filtering, and a cut-off cluster (through a TCP proxy) that comes back without a
lost change. Nothing about Kubernetes is mocked."""

# ruff: noqa: E402  (api_fixtures is registered for assertion rewriting before it is imported)
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

pytest.register_assert_rewrite("api_fixtures")

from api_fixtures import Api, assert_error, start_api
from tcp_proxy import TcpProxy, proxied_kubeconfig, upstream

from harness import Cluster
from kubefoundry.operator.models.deployment import KFD
from kubefoundry.operator.runtime import kube as k
from support import eventually, kfd

pytest_plugins = ["api_fixtures"]

Event = tuple[str | None, str, Any]


class Stream:
    """An open event stream, read frame by frame."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.buffer = ""
        self.last_id: str | None = None

    async def next(self, timeout: float = 15.0) -> Event:
        while "\n\n" not in self.buffer:
            chunk = await asyncio.wait_for(self.response.content.readany(), timeout)
            assert chunk, "the server ended the stream"
            self.buffer += chunk.decode()
        raw, self.buffer = self.buffer.split("\n\n", 1)
        fields: dict[str, str] = {}
        for line in raw.split("\n"):
            if line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
        if "data" not in fields:  # retry: or a keep-alive comment
            return await self.next(timeout)
        if "id" in fields:
            self.last_id = fields["id"]
        return fields.get("id"), fields["event"], json.loads(fields["data"])

    async def until(self, wanted: Any, timeout: float = 30.0) -> Event:
        """The first event for which wanted(event, data) is true."""

        async def find() -> Event:
            while True:
                event = await self.next(timeout)
                if wanted(event[1], event[2]):
                    return event

        return await asyncio.wait_for(find(), timeout)


async def open_stream(api: Api, *, namespace: str | None = None, last_id: str | None = None) -> Stream:
    headers = {"Accept": "text/event-stream", **({"Last-Event-ID": last_id} if last_id else {})}
    params = {"namespace": namespace} if namespace else None
    response = await api.client.get("/api/deployments/events", params=params, headers=headers)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["Cache-Control"].startswith("no-cache")
    return Stream(response)


def names(data: Any) -> list[str]:
    return [d["name"] for d in data["deployments"]]


def upsert_of(name: str, model: str | None = None) -> Any:
    return lambda e, d: (
        e == "upsert" and d["deployment"]["name"] == name and (model is None or d["deployment"]["modelId"] == model)
    )


# A change made by someone else (kubectl, GitOps). Not a status write: an operator running on the same
# cluster (make dev's) would overwrite that.
OTHER_MODEL = {"spec": {"modelId": "Qwen/Qwen3-8B"}}


async def test_snapshot_then_every_change_of_a_namespace(
    api: Api, kube: k.Kube, namespace: str, cluster: Cluster
) -> None:
    await kube.create(KFD, kfd("before"), namespace)
    await asyncio.sleep(0.5)
    stream = await open_stream(api, namespace=namespace)
    _, event, data = await stream.next()
    assert event == "snapshot"
    if names(data) != ["before"]:  # the watch had not brought it yet: it follows as an upsert
        await stream.until(upsert_of("before"))

    # A create through the API is on the stream at once (the API applies its own writes to the cache).
    created = await api.call(
        "POST",
        "/api/deployments",
        json_body={"name": "through-api", "namespace": namespace, "modelId": "Qwen/Qwen3-0.6B"},
    )
    assert created.status == 201
    await stream.until(upsert_of("through-api"), timeout=5)

    # A change made by someone else arrives too.
    await kube.merge_patch(KFD, "before", OTHER_MODEL, namespace)
    await stream.until(upsert_of("before", "Qwen/Qwen3-8B"))

    # A deployment in another namespace is not on this namespace's stream; a delete is.
    other = f"{namespace}-x"
    cluster.kubectl("create", "namespace", other)
    try:
        await kube.create(KFD, kfd("elsewhere"), other)
        await kube.delete(KFD, "before", namespace)
        seen: list[Any] = []
        await stream.until(
            lambda e, d: seen.append(d) or (e == "delete" and d == {"namespace": namespace, "name": "before"})
        )
        assert all(d.get("deployment", d)["namespace"] == namespace for d in seen), seen
    finally:
        cluster.kubectl("delete", "namespace", other, "--wait=false", check=False)
    stream.response.close()


async def test_a_reconnecting_client_gets_what_it_missed_or_a_snapshot(api: Api, kube: k.Kube, namespace: str) -> None:
    stream = await open_stream(api, namespace=namespace)
    _, event, _ = await stream.next()
    assert event == "snapshot" and stream.last_id
    await kube.create(KFD, kfd("one"), namespace)
    await stream.until(upsert_of("one"))
    last = stream.last_id
    stream.response.close()

    # Changes while the client is away.
    await kube.create(KFD, kfd("two"), namespace)
    await kube.merge_patch(KFD, "one", OTHER_MODEL, namespace)
    await asyncio.sleep(1.0)

    resumed = await open_stream(api, namespace=namespace, last_id=last)
    _, event, data = await resumed.next()
    assert event == "upsert" and {data["deployment"]["name"]} <= {"one", "two"}, "resumed with a replay, not a snapshot"
    seen = {data["deployment"]["name"]: data["deployment"]["modelId"]}
    while seen.get("one") != "Qwen/Qwen3-8B" or "two" not in seen:
        _, event, data = await resumed.next()
        assert event == "upsert", (event, data)
        seen[data["deployment"]["name"]] = data["deployment"]["modelId"]
    resumed.response.close()

    # An id from another server (or a restarted one) gets the whole list again.
    fresh = await open_stream(api, namespace=namespace, last_id="deadbeef-1")
    _, event, data = await fresh.next()
    assert event == "snapshot" and sorted(names(data)) == ["one", "two"]
    fresh.response.close()


async def test_errors_before_the_stream_use_the_envelope(api: Api) -> None:
    reply = await api.get("/api/deployments/events", namespace="Not_A_Namespace")
    assert_error(reply, 400, "VALIDATION_ERROR")


@pytest.fixture
async def proxy(cluster: Cluster, tmp_path: Path) -> AsyncIterator[tuple[TcpProxy, Path]]:
    tcp = TcpProxy(*upstream(cluster.kubeconfig))
    await tcp.start()
    yield tcp, proxied_kubeconfig(cluster.kubeconfig, tcp.port, tmp_path / "proxied.kubeconfig")
    await tcp.stop()


async def test_the_stream_survives_a_cluster_outage_without_losing_a_change(
    api: Api, kube: k.Kube, proxy: tuple[TcpProxy, Path], namespace: str
) -> None:
    tcp, kubeconfig = proxy
    proxied = await k.Kube.connect(str(kubeconfig), timeout=5.0)
    server = await start_api(proxied)
    try:
        await server.wait_synced()
        await kube.create(KFD, kfd("kept"), namespace)
        await kube.create(KFD, kfd("removed"), namespace)

        async def both() -> bool:
            reply = await server.get("/api/deployments", namespace=namespace)
            return reply.status == 200 and sorted(names(reply.body)) == ["kept", "removed"]

        await eventually(both, 30, "both deployments in the API")
        stream = await open_stream(server, namespace=namespace)
        _, event, data = await stream.next()
        assert event == "snapshot" and sorted(names(data)) == ["kept", "removed"]

        await tcp.stop()
        _, event, data = await stream.until(lambda e, d: e == "status", timeout=30)
        assert data["connected"] is False and data["message"]

        # While the API cannot see the cluster: one created, one deleted, one changed.
        await kube.create(KFD, kfd("added"), namespace)
        await kube.delete(KFD, "removed", namespace)
        await kube.merge_patch(KFD, "kept", OTHER_MODEL, namespace)
        await tcp.start()

        seen: dict[str, Any] = {}
        while not (
            seen.get("added") == "upsert"
            and seen.get("removed") == "delete"
            and seen.get("kept") == "Qwen/Qwen3-8B"
            and seen.get("status")
        ):
            _, event, data = await stream.next(30)
            if event == "status":
                seen["status"] = data["connected"]
            elif event == "delete":
                seen[data["name"]] = "delete"
            elif event == "upsert":
                d = data["deployment"]
                seen[d["name"]] = d["modelId"] if d["name"] == "kept" else "upsert"
        assert seen["status"] is True
        stream.response.close()
    finally:
        await server.client.close()
        await proxied.close()

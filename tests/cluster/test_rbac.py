"""deploy/kubernetes/kubefoundry.yaml grants what the operator and the API need, and nothing hides a gap.

The operator and the API run here with the token of the manifest's ServiceAccount (not as admin), on
a cluster of their own (the shared cluster's admin operator would otherwise do the work). The
deployment flow must then work end to end through the REST API.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer

from harness import (
    MANIFEST,
    BackgroundProcess,
    Cluster,
    dedicated_local_cluster,
    install_kubefoundry_crds,
    install_provider_crds,
    service_account_kubeconfig,
)
from kubefoundry.api.app import create_app
from kubefoundry.api.auth import KubernetesAuth
from kubefoundry.operator.runtime import kube as k
from kubefoundry.operator.runtime.instance import INSTANCE_ENV
from support import eventually, wait_for_phase

SA, SA_NAMESPACE = "kubefoundry", "kubefoundry-system"


@pytest.fixture(scope="module")
def rbac_cluster(cluster: Cluster) -> Iterator[Cluster]:
    if not cluster.local:
        pytest.skip("runs the operator with reduced rights on a cluster of its own; local cluster only")
    with dedicated_local_cluster("kf-rbac") as own:
        install_kubefoundry_crds(own)
        install_provider_crds(own, ("dynamo",))
        # Everything but the Deployment: its pod would be a second operator (KWOK "runs" any image).
        docs = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d and d["kind"] != "Deployment"]
        own.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(docs))
        yield own


@pytest.fixture(scope="module")
def sa_kubeconfig(rbac_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kubeconfig that authenticates as the manifest's ServiceAccount (a TokenRequest token)."""
    return service_account_kubeconfig(rbac_cluster, SA_NAMESPACE, SA, tmp_path_factory.mktemp("rbac") / "kubeconfig")


def manifest_operator_args() -> list[str]:
    """The operator's arguments in the manifest's Deployment (so leader election runs with its rights too),
    without the program name and the liveness endpoint (a fixed port would clash on a shared machine)."""
    deployment = next(d for d in yaml.safe_load_all(MANIFEST.read_text()) if d and d["kind"] == "Deployment")
    container = next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "operator")
    args = list(container["args"][1:])
    if "--liveness" in args:
        at = args.index("--liveness")
        del args[at : at + 2]
    assert "--leader-elect" in args
    return args


@pytest.fixture(scope="module")
def sa_token(sa_kubeconfig: Path) -> str:
    return str(yaml.safe_load(sa_kubeconfig.read_text())["users"][0]["user"]["token"])


@pytest.fixture(scope="module")
def processes(rbac_cluster: Cluster, sa_kubeconfig: Path) -> Iterator[tuple[BackgroundProcess, BackgroundProcess]]:
    operator = BackgroundProcess(
        "operator-sa", [sys.executable, "-m", "kubefoundry.operator", *manifest_operator_args()], str(sa_kubeconfig)
    )
    # The stand-in plays Dynamo's own operator, which has rights of its own: run it as admin.
    standin = BackgroundProcess("standin-rbac", [sys.executable, "-m", "kubefoundry.simulator.dynamo"],
                                rbac_cluster.kubeconfig)  # fmt: skip
    operator.start()
    standin.start()
    yield operator, standin
    operator.stop()
    standin.stop()


@pytest.fixture(scope="module")
async def sa_api(sa_kubeconfig: Path, monkeypatch_module: pytest.MonkeyPatch) -> AsyncIterator[TestClient[Any, Any]]:
    monkeypatch_module.setenv("KUBEFOUNDRY_NAMESPACE", SA_NAMESPACE)
    monkeypatch_module.delenv(INSTANCE_ENV)  # deployments for the manifest's operator, which runs without one
    kube = await k.Kube.connect(str(sa_kubeconfig))
    # As the manifest runs it: checking callers' tokens needs the ServiceAccount's auth-delegator binding.
    app = create_app(kube, auth=KubernetesAuth(kube))
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1", port=0))
    await client.start_server()
    yield client
    await client.close()
    await kube.close()


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


async def test_the_service_account_can_run_the_whole_flow(
    rbac_cluster: Cluster,
    sa_token: str,
    processes: tuple[BackgroundProcess, BackgroundProcess],
    sa_api: TestClient[Any, Any],
) -> None:
    operator, _ = processes
    namespace = f"team-{uuid.uuid4().hex[:6]}"
    rbac_cluster.kubectl("create", "namespace", namespace)

    # The caller is the ServiceAccount itself, so every route is checked against the manifest's rules.
    async def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {sa_token}"}
        async with sa_api.request(method, f"/api{path}", json=body, headers=headers) as resp:
            return resp.status, await resp.json()

    async def api_ready() -> bool:
        status, _ = await call("GET", "/deployments")
        return status == 200

    await eventually(api_ready, 60, what="the API's caches to sync with the ServiceAccount's rights")

    assert await call("PUT", "/settings", {"activeProviderId": "dynamo"}) == (
        200,
        {"activeProviderId": "dynamo", "providers": (await call("GET", "/settings"))[1]["providers"]},
    )
    body = {"name": "qwen", "namespace": namespace, "modelId": "Qwen/Qwen3-0.6B", "engine": "vllm"}
    status, preview = await call("POST", "/deployments/preview", body)
    assert status == 200, preview
    status, created = await call("POST", "/deployments", body)
    assert status == 201, created

    admin = await k.Kube.connect(rbac_cluster.kubeconfig)
    try:
        obj = await wait_for_phase(admin, namespace, "qwen", "Running", timeout=120)
    finally:
        await admin.close()
    assert obj["status"]["endpoint"]["service"] == "qwen-frontend"

    async def details() -> dict[str, Any] | None:
        status, body = await call("GET", f"/deployments/qwen?namespace={namespace}")
        return body if status == 200 and body["phase"] == "Running" and len(body["pods"]) == 2 else None

    await eventually(details, 60, what="details with both pods")
    status, gpus = await call("GET", "/cluster/gpus")
    assert status == 200 and gpus["totals"]["capacity"] == 16
    status, cluster_status = await call("GET", "/cluster/status")
    assert status == 200 and cluster_status["connected"] is True
    assert await call("DELETE", f"/deployments/qwen?namespace={namespace}") == (
        200,
        {"success": True, "message": "Deployment deleted"},
    )
    log = operator.log()
    assert "Forbidden" not in log and " 403 " not in log, log[-4000:]
    assert "now leads (lease kubefoundry-system/kubefoundry-operator)" in log, log[-4000:]

"""ProviderInstall against the real API server with the real helm binary and the local stand-in chart.

The operator runs as a subprocess with only the ProviderInstall handlers
(`python -m kubefoundry.operator.installs.handlers`), labelled as its own operator instance so
that another KubeFoundry operator on the shared cluster leaves these ProviderInstalls alone. The chart is
our STAND-IN dynamo-platform (deploy/local/charts/), assembled with the real Dynamo CRDs for versions
1.0.0 and 1.0.1; KWOK makes its operator Deployment Available without pulling an image.

Every test installs into namespaces of its own and leaves the Dynamo CRDs in place (other tests use them).
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer

from harness import (
    REPO,
    BackgroundProcess,
    Cluster,
    dedicated_local_cluster,
    helm_binary,
    install_kubefoundry_crds,
    install_provider_crds,
)
from kubefoundry.api.app import create_app
from kubefoundry.api.context import Timing
from kubefoundry.operator.models.providerinstall import RESOURCE
from kubefoundry.operator.providers import get_provider
from kubefoundry.operator.runtime import kube as k
from kubefoundry.operator.runtime.instance import INSTANCE_ENV, INSTANCE_LABEL
from kubefoundry.simulator import localchart
from support import condition, eventually

NAME = "dynamo"
RELEASE = "dynamo-platform"
DEPLOYMENT = f"{RELEASE}-dynamo-operator-controller-manager"
INSTANCE = f"pi-test-{uuid.uuid4().hex[:6]}"
TARGET_PREFIX = "kf-pi-"
JSON_TYPE = {"Content-Type": "application/json"}
DYNAMO = get_provider("dynamo")
BAD_QUANTITY = {"dynamo-operator": {"controllerManager": {"manager": {"resources": {"requests": {"cpu": "lots"}}}}}}
BAD_TYPE = {"dynamo-operator": {"controllerManager": {"manager": {"image": {"repository": 5}}}}}


# --- fixtures -----------------------------------------------------------------------------------------


# A ProviderInstall is cluster-scoped and named after its provider, so there is one per cluster: on the
# local simulated cluster these tests get a cluster of their own (a `make dev` cluster keeps its own
# ProviderInstall 'dynamo'); on a cluster named by KUBECONFIG they run there, and skip if the provider
# is already installed through a ProviderInstall of someone else.
@pytest.fixture(scope="module")
def cluster(cluster: Cluster) -> Iterator[Cluster]:
    if not cluster.local:
        yield cluster
        return
    with dedicated_local_cluster("kf-install") as own:
        yield own


@pytest.fixture(scope="module")
async def kube(cluster: Cluster) -> AsyncIterator[k.Kube]:
    client = await k.Kube.connect(cluster.kubeconfig)
    yield client
    await client.close()


@pytest.fixture(scope="module")
def kubefoundry_crds(cluster: Cluster) -> None:
    install_kubefoundry_crds(cluster)


@pytest.fixture(scope="module")
def provider_crds(cluster: Cluster) -> Path:
    return install_provider_crds(cluster, ("dynamo",))


@pytest.fixture(scope="module")
def charts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return localchart.assemble(tmp_path_factory.mktemp("charts"), ["1.0.0", "1.0.1"])


@pytest.fixture(scope="module")
def helm_bin() -> str:
    return helm_binary()


@pytest.fixture(scope="module")
def pi_operator(
    cluster: Cluster, kubefoundry_crds: None, provider_crds: Path, charts: Path, helm_bin: str
) -> Iterator[BackgroundProcess]:
    proc = BackgroundProcess(
        "providerinstall-operator",
        [sys.executable, "-m", "kubefoundry.operator.installs.handlers"],
        cluster.kubeconfig,
        {
            "KUBEFOUNDRY_HELM": helm_bin,
            "KUBEFOUNDRY_LOCAL_CHART_ROOTS": str(charts),
            INSTANCE_ENV: INSTANCE,
            "KUBEFOUNDRY_INSTALL_RETRY_BASE_SECONDS": "1",
            "KUBEFOUNDRY_INSTALL_RETRY_MAX_SECONDS": "3",
            "KUBEFOUNDRY_HELM_PENDING_RECHECK_SECONDS": "1",
            "KUBEFOUNDRY_INSTALL_MONITOR_FAST_SECONDS": "0.5",
            "KUBEFOUNDRY_INSTALL_MONITOR_SECONDS": "5",
        },
    )
    proc.start()
    deadline = time.monotonic() + 60
    while "Activity 'providerinstall-startup' succeeded" not in proc.log():
        if not proc.running() or time.monotonic() > deadline:
            proc.stop()
            pytest.fail(f"the ProviderInstall operator did not start; its log:\n{proc.log()[-5000:]}", pytrace=False)
        time.sleep(0.1)
    yield proc
    try:
        _force_delete(cluster)
    finally:
        proc.stop()
        if os.environ.get("KUBEFOUNDRY_TEST_SHOW_LOGS") == "1":
            sys.stderr.write(f"\n--- ProviderInstall operator log ({proc.log_path}) ---\n{proc.log()[-20000:]}\n")


def _force_delete(cluster: Cluster) -> None:
    """Leaves no ProviderInstall of ours behind, even if its finalizer could not run."""
    found = cluster.kubectl("get", "providerinstall", NAME, "-o", "json", check=False)
    if found.returncode != 0:
        return
    obj = json.loads(found.stdout)
    ours = (obj["metadata"].get("labels") or {}).get(INSTANCE_LABEL) == INSTANCE or str(
        obj["spec"].get("namespace") or ""
    ).startswith(TARGET_PREFIX)
    if not ours:
        return
    cluster.kubectl("delete", "providerinstall", NAME, "--wait=true", "--timeout=60s", check=False)
    cluster.kubectl("patch", "providerinstall", NAME, "--type=merge", "-p", '{"metadata":{"finalizers":null}}',
                    check=False)  # fmt: skip


@pytest.fixture
def target(cluster: Cluster, pi_operator: BackgroundProcess) -> Iterator[str]:
    """A namespace to install into; afterwards no ProviderInstall, release or namespace of this test remains."""
    name = f"{TARGET_PREFIX}{uuid.uuid4().hex[:8]}"
    _wait_no_providerinstall(cluster)
    yield name
    _force_delete(cluster)
    helm_uninstall(cluster, RELEASE, name)
    cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def _wait_no_providerinstall(cluster: Cluster) -> None:
    deadline = time.monotonic() + 60
    while cluster.kubectl("get", "providerinstall", NAME, check=False).returncode == 0:
        if time.monotonic() > deadline:
            pytest.skip("a ProviderInstall 'dynamo' of someone else exists on this cluster; not touching it")
        time.sleep(0.5)


@pytest.fixture
def instance_env(monkeypatch: pytest.MonkeyPatch, helm_bin: str) -> None:
    """The in-process API labels the ProviderInstalls it creates for our operator instance, and has helm."""
    monkeypatch.setenv(INSTANCE_ENV, INSTANCE)
    monkeypatch.setenv("KUBEFOUNDRY_HELM", helm_bin)


@pytest.fixture
async def api(kube: k.Kube, instance_env: None) -> AsyncIterator[TestClient[Any, Any]]:
    app = create_app(kube, timing=Timing(install_ttl=0.0))
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1", port=0))
    await client.start_server()
    yield client
    await client.close()


# --- helpers ------------------------------------------------------------------------------------------


def manifest(namespace: str, charts: Path, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kubefoundry.io/v1alpha1",
        "kind": "ProviderInstall",
        "metadata": {"name": NAME, "labels": {INSTANCE_LABEL: INSTANCE}},
        "spec": {"provider": "dynamo", "namespace": namespace, "chartSource": {"localPath": str(charts)}, **spec},
    }


async def wait_ready(kube: k.Kube, version: str, timeout: float = 60) -> dict[str, Any]:
    async def ready() -> dict[str, Any] | None:
        obj = await kube.get_or_none(RESOURCE, NAME)
        cond = condition(obj, "Ready")
        gen = ((obj or {}).get("metadata") or {}).get("generation")
        status = (obj or {}).get("status") or {}
        if cond.get("status") == "True" and cond.get("observedGeneration") == gen and status.get("version") == version:
            return obj
        return None

    try:
        return await eventually(ready, timeout, what=f"ProviderInstall Ready at {version}")
    except AssertionError:
        obj = await kube.get_or_none(RESOURCE, NAME)
        status = json.dumps((obj or {}).get("status"), indent=1)
        raise AssertionError(f"not Ready at {version}; status: {status}") from None


async def wait_gone(kube: k.Kube, timeout: float = 60) -> None:
    async def gone() -> bool:
        return await kube.get_or_none(RESOURCE, NAME) is None

    await eventually(gone, timeout, what="the ProviderInstall to be deleted")


def helm_releases(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [helm_binary(), "--kubeconfig", cluster.kubeconfig, "list", "-a", "-n", namespace, "-o", "json"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    return list(json.loads(out or "[]"))


def helm_install_by_hand(cluster: Cluster, release: str, namespace: str, chart: Path) -> None:
    subprocess.run(
        [helm_binary(), "--kubeconfig", cluster.kubeconfig, "install", release, str(chart), "-n", namespace,
         "--create-namespace"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip


def helm_uninstall(cluster: Cluster, release: str, namespace: str) -> None:
    subprocess.run(
        [helm_binary(), "--kubeconfig", cluster.kubeconfig, "uninstall", release, "-n", namespace,
         "--ignore-not-found"],
        capture_output=True, check=False, timeout=120,
    )  # fmt: skip


async def events(kube: k.Kube, uid: str) -> list[dict[str, Any]]:
    items = (await kube.list(k.EVENTS, field_selector=f"involvedObject.uid={uid}"))["items"]
    return list(items)


async def crd_uids(kube: k.Kube) -> dict[str, str]:
    return {name: (await kube.get(k.CRDS, name))["metadata"]["uid"] for name in DYNAMO.install_spec().crd_names}


# --- the tests ----------------------------------------------------------------------------------------


async def test_install_reports_installed_once_the_operator_is_available(
    kube: k.Kube, cluster: Cluster, charts: Path, target: str
) -> None:
    created = await kube.create(RESOURCE, manifest(target, charts, version="1.0.0"))
    obj = await wait_ready(kube, "1.0.0")
    status = obj["status"]
    assert (status["installed"], status["crdInstalled"], status["operatorInstalled"]) == (True, True, True)
    assert status["namespace"] == target
    assert condition(obj, "Installed")["status"] == "True"
    assert condition(obj, "Failed")["status"] == "False"
    # The cluster shows it: the operator Deployment the chart creates is Available.
    deployment = await kube.get(k.DEPLOYMENTS, DEPLOYMENT, target)
    available = next(c for c in deployment["status"]["conditions"] if c["type"] == "Available")
    assert available["status"] == "True"
    assert deployment["metadata"]["labels"]["app.kubernetes.io/version"] == "1.0.0"
    [release] = helm_releases(cluster, target)
    assert (release["name"], release["status"], release["chart"]) == (RELEASE, "deployed", "dynamo-platform-1.0.0")
    # Steps carry helm's own words.
    [step] = [s for s in status["steps"] if s["action"] == "install"]
    assert step["outcome"] == "Succeeded"
    assert 'Release "dynamo-platform" does not exist. Installing it now.' in step["message"]
    assert "STATUS: deployed" in step["message"]

    async def posted() -> set[str] | None:  # kopf posts Events in the background
        reasons = {e["reason"] for e in await events(kube, created["metadata"]["uid"])}
        return reasons if {"Installing", "HelmSucceeded"} <= reasons else None

    await eventually(posted, 30, what="the Installing and HelmSucceeded Events")
    # kopf's bookkeeping uses our names (this operator instance's own, see configure()).
    assert obj["metadata"]["finalizers"] == [f"kubefoundry.io/finalizer-{INSTANCE}"]
    assert f"{INSTANCE}.kubefoundry.io/last-handled-configuration" in obj["metadata"]["annotations"]
    assert not any(key.startswith("kopf.zalando.org") for key in obj["metadata"]["annotations"])


async def test_upgrade_changes_the_version(kube: k.Kube, cluster: Cluster, charts: Path, target: str) -> None:
    await kube.create(RESOURCE, manifest(target, charts, version="1.0.0"))
    await wait_ready(kube, "1.0.0")
    await kube.merge_patch(RESOURCE, NAME, {"spec": {"version": "1.0.1"}})
    obj = await wait_ready(kube, "1.0.1")
    [release] = helm_releases(cluster, target)
    assert (release["revision"], release["status"], release["chart"]) == ("2", "deployed", "dynamo-platform-1.0.1")
    upgrade = [s for s in obj["status"]["steps"] if s["action"] == "upgrade"]
    assert upgrade and upgrade[-1]["outcome"] == "Succeeded" and upgrade[-1]["version"] == "1.0.1"
    assert 'Release "dynamo-platform" has been upgraded' in upgrade[-1]["message"]
    deployment = await kube.get(k.DEPLOYMENTS, DEPLOYMENT, target)
    assert deployment["metadata"]["labels"]["app.kubernetes.io/version"] == "1.0.1"


async def test_uninstall_removes_the_release_and_keeps_the_crds(
    kube: k.Kube, cluster: Cluster, charts: Path, target: str
) -> None:
    await kube.create(RESOURCE, manifest(target, charts, version="1.0.1"))
    await wait_ready(kube, "1.0.1")
    crds_before = await crd_uids(kube)
    await kube.delete(RESOURCE, NAME)
    await wait_gone(kube)
    assert helm_releases(cluster, target) == []
    assert await kube.get_or_none(k.DEPLOYMENTS, DEPLOYMENT, target) is None
    # The very same CRD objects (not deleted and re-created by someone else meanwhile).
    assert await crd_uids(kube) == crds_before


async def test_a_failing_chart_reports_helms_message_and_is_retried(
    kube: k.Kube, cluster: Cluster, charts: Path, target: str
) -> None:
    # The chart renders a Deployment the API server rejects: helm leaves a `failed` release.
    created = await kube.create(RESOURCE, manifest(target, charts, version="1.0.1", values=BAD_QUANTITY))

    async def failed_twice() -> dict[str, Any] | None:
        obj = await kube.get_or_none(RESOURCE, NAME)
        attempts = [s for s in ((obj or {}).get("status") or {}).get("steps", []) if s["outcome"] == "Failed"]
        if condition(obj, "Failed").get("status") == "True" and len(attempts) >= 3:
            return obj
        return None

    obj = await eventually(failed_twice, 60, what="a Failed condition and retries")
    failed = condition(obj, "Failed")
    assert failed["reason"] == "HelmFailed"
    assert "quantities must match the regular expression" in failed["message"]  # helm's (and the API server's) words
    assert "retrying" in failed["message"]
    ready = condition(obj, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "HelmFailed")
    # The retry found helm's failed release and said so before trying again; nothing silent.
    checks = [s for s in obj["status"]["steps"] if s["action"] == "check"]
    assert checks and "is failed (revision" in checks[-1]["message"]
    [release] = helm_releases(cluster, target)
    assert release["status"] == "failed"

    async def warned() -> set[str] | None:
        warnings = {e["reason"] for e in await events(kube, created["metadata"]["uid"]) if e["type"] == "Warning"}
        return warnings if {"HelmFailed", "ReleaseFailed"} <= warnings else None

    await eventually(warned, 30, what="HelmFailed and ReleaseFailed Warning Events")

    # Fixing the values recovers: the failed release is upgraded, not left behind.
    await kube.json_patch(RESOURCE, NAME, [{"op": "remove", "path": "/spec/values"}])
    obj = await wait_ready(kube, "1.0.1")
    assert condition(obj, "Failed")["status"] == "False"
    [release] = helm_releases(cluster, target)
    assert release["status"] == "deployed"


async def test_a_wrong_values_type_fails_in_helms_schema_check(
    kube: k.Kube, cluster: Cluster, charts: Path, target: str
) -> None:
    await kube.create(RESOURCE, manifest(target, charts, values=BAD_TYPE))

    async def failed() -> dict[str, Any] | None:
        obj = await kube.get_or_none(RESOURCE, NAME)
        return obj if condition(obj, "Failed").get("status") == "True" else None

    obj = await eventually(failed, 60, what="a Failed condition")
    assert "values don't meet the specifications of the schema" in condition(obj, "Failed")["message"]
    assert "got number, want string" in condition(obj, "Failed")["message"]
    assert helm_releases(cluster, target) == []  # helm refused before creating anything
    assert condition(obj, "Ready")["status"] == "False"


async def test_a_local_path_outside_the_allowed_roots_is_refused(kube: k.Kube, target: str, tmp_path: Path) -> None:
    localchart.assemble(tmp_path, ["1.0.1"])
    await kube.create(RESOURCE, manifest(target, tmp_path))

    async def refused() -> dict[str, Any] | None:
        obj = await kube.get_or_none(RESOURCE, NAME)
        return obj if condition(obj, "Failed").get("reason") == "ChartSourceNotAllowed" else None

    obj = await eventually(refused, 30, what="ChartSourceNotAllowed")
    assert "is not under a directory the operator allows" in condition(obj, "Failed")["message"]


async def test_the_api_server_enforces_the_crd_rules(kube: k.Kube, charts: Path, target: str) -> None:
    wrong_name = manifest(target, charts)
    wrong_name["metadata"]["name"] = "kuberay"
    two_sources = manifest(target, charts)
    two_sources["spec"]["chartSource"]["oci"] = "oci://mirror.local/charts"
    plain_http = manifest(target, charts)
    plain_http["spec"]["chartSource"] = {"repository": "http://charts.example.com"}
    for body, expected in [
        (wrong_name, "must equal spec.provider"),
        (two_sources, "exactly one of repository, oci or localPath"),
        (plain_http, "spec.chartSource.repository"),
    ]:
        with pytest.raises(k.KubeError) as err:
            await kube.create(RESOURCE, body, dry_run=True)
        assert err.value.status == 422 and expected in err.value.message, err.value.message
    # The namespace cannot change once set (that would orphan the releases).
    await kube.create(RESOURCE, manifest(target, charts))
    with pytest.raises(k.KubeError) as err:
        await kube.merge_patch(RESOURCE, NAME, {"spec": {"namespace": "elsewhere"}})
    assert err.value.status == 422 and "immutable" in err.value.message


async def test_a_pending_release_is_waited_for_and_a_stuck_one_reported(
    kube: k.Kube, cluster: Cluster, charts: Path, target: str
) -> None:
    helm_install_by_hand(cluster, RELEASE, target, charts / "dynamo-platform-1.0.0.tgz")
    # Another helm operation "in progress": a pending-upgrade revision 2, as helm writes it.
    secret = await kube.get(k.SECRETS, f"sh.helm.release.v1.{RELEASE}.v1", target)
    release = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(secret["data"]["release"]))))

    async def fake_pending(started: datetime) -> None:
        release.update(version=2)
        release["info"].update(status="pending-upgrade", last_deployed=started.isoformat().replace("+00:00", "Z"))
        encoded = base64.b64encode(gzip.compress(json.dumps(release).encode())).decode()
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "helm.sh/release.v1",
            "metadata": {
                "name": f"sh.helm.release.v1.{RELEASE}.v2",
                "namespace": target,
                "labels": {"name": RELEASE, "owner": "helm", "status": "pending-upgrade", "version": "2"},
            },
            "data": {"release": base64.b64encode(encoded.encode()).decode()},
        }
        await kube.delete(k.SECRETS, body["metadata"]["name"], target)
        await kube.create(k.SECRETS, body, target)

    await fake_pending(datetime.now(UTC))
    assert helm_releases(cluster, target)[0]["status"] == "pending-upgrade"
    await kube.create(RESOURCE, manifest(target, charts, version="1.0.1"))

    async def waiting() -> dict[str, Any] | None:
        obj = await kube.get_or_none(RESOURCE, NAME)
        steps = ((obj or {}).get("status") or {}).get("steps") or []
        waits = [s for s in steps if s["outcome"] == "Waiting"]
        return (
            obj if condition(obj, "Progressing").get("reason") == "HelmOperationInProgress" and len(waits) > 1 else None
        )

    obj = await eventually(waiting, 30, what="Progressing/HelmOperationInProgress")
    assert "is pending-upgrade" in condition(obj, "Progressing")["message"]
    assert condition(obj, "Failed").get("status") != "True"
    assert [r["revision"] for r in helm_releases(cluster, target)] == ["2"]  # nothing new was started

    # Pending for hours: reported as stuck, with the way out, and still not touched.
    await fake_pending(datetime.now(UTC) - timedelta(hours=2))

    async def stuck() -> dict[str, Any] | None:
        obj = await kube.get_or_none(RESOURCE, NAME)
        return obj if condition(obj, "Failed").get("reason") == "ReleaseStuck" else None

    obj = await eventually(stuck, 30, what="Failed/ReleaseStuck")
    assert f"helm rollback {RELEASE} -n {target}" in condition(obj, "Failed")["message"]
    assert [r["revision"] for r in helm_releases(cluster, target)] == ["2"]

    # Once the other operation is over, the operator goes ahead.
    await kube.delete(k.SECRETS, f"sh.helm.release.v1.{RELEASE}.v2", target)
    await wait_ready(kube, "1.0.1")
    [release_now] = helm_releases(cluster, target)
    assert (release_now["status"], release_now["chart"]) == ("deployed", "dynamo-platform-1.0.1")


async def test_a_provider_installed_by_hand_is_detected_and_left_alone(
    kube: k.Kube, cluster: Cluster, charts: Path, target: str, api: TestClient[Any, Any]
) -> None:
    hand_ns = f"kf-hand-{uuid.uuid4().hex[:6]}"
    hand_release = "my-own-dynamo"
    try:
        helm_install_by_hand(cluster, hand_release, hand_ns, charts / "dynamo-platform-1.0.0.tgz")

        async def detected() -> dict[str, Any] | None:
            async with api.get(f"/api/installation/providers/{NAME}/status") as resp:
                body: dict[str, Any] = await resp.json()
            return body if body["installed"] else None

        body = await eventually(detected, 60, what="the hand-installed provider to be detected")
        assert body == {"installed": True, "crdInstalled": True, "operatorInstalled": True, "version": "1.0.0"}

        # A ProviderInstall does not install a second copy, and its deletion does not remove theirs.
        await kube.create(RESOURCE, manifest(target, charts))

        async def elsewhere() -> dict[str, Any] | None:
            obj = await kube.get_or_none(RESOURCE, NAME)
            return obj if condition(obj, "Progressing").get("reason") == "ManagedElsewhere" else None

        obj = await eventually(elsewhere, 30, what="Progressing/ManagedElsewhere")
        assert (
            f"{hand_ns}/{hand_release}-dynamo-operator-controller-manager" in condition(obj, "Progressing")["message"]
        )
        assert obj["status"]["installed"] is True
        assert helm_releases(cluster, target) == []
        await kube.delete(RESOURCE, NAME)
        await wait_gone(kube)
        assert [r["name"] for r in helm_releases(cluster, hand_ns)] == [hand_release]

        # Installing through the API says so instead of installing.
        async with api.post(f"/api/installation/providers/{NAME}/install", headers=JSON_TYPE) as resp:
            assert resp.status == 200
            reply = await resp.json()
        assert reply["success"] is True and "not by KubeFoundry" in reply["message"], reply
        assert await kube.get_or_none(RESOURCE, NAME) is None
    finally:
        helm_uninstall(cluster, hand_release, hand_ns)
        cluster.kubectl("delete", "namespace", hand_ns, "--wait=false", "--ignore-not-found", check=False)


async def test_rest_install_upgrade_uninstall(
    kube: k.Kube,
    cluster: Cluster,
    charts: Path,
    target: str,
    api: TestClient[Any, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KUBEFOUNDRY_DEFAULT_CHART_SOURCE", str(charts))  # as `make dev` sets it

    async def call(method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        # Every POST says it is JSON, with or without a body (the API's request guard).
        async with api.request(method, f"/api/installation{path}", json=body, headers=JSON_TYPE) as resp:
            return resp.status, await resp.json()

    assert await call("GET", "/helm/status") == (200, {"available": True, "version": "v3.19.0"})
    status, error = await call("GET", "/providers/nope/status")
    assert (status, error["code"]) == (404, "NOT_FOUND")
    status, error = await call("POST", "/providers/nope/install")
    assert (status, error["code"]) == (404, "NOT_FOUND")
    status, error = await call("POST", f"/providers/{NAME}/install", {"chartSource": {"repository": "http://x"}})
    assert (status, error["code"]) == (400, "VALIDATION_ERROR")

    status, reply = await call("POST", f"/providers/{NAME}/install", {"version": "1.0.0", "namespace": target})
    assert status == 200 and reply["success"] is True, reply
    assert set(reply) == {"success", "message"}
    assert (await kube.get(RESOURCE, NAME))["spec"]["chartSource"] == {"localPath": str(charts)}

    async def installed(version: str) -> dict[str, Any] | None:
        _, body = await call("GET", f"/providers/{NAME}/status")
        return body if body["installed"] and body["version"] == version else None

    body = await eventually(lambda: installed("1.0.0"), 60, what="REST status installed 1.0.0")
    assert set(body) == {"installed", "crdInstalled", "operatorInstalled", "version"}
    async with api.get("/api/cluster/status") as resp:
        cluster_status = await resp.json()
    if cluster_status["providerId"] == NAME:  # the active provider (a setting other tests may change)
        assert cluster_status["providerInstalled"] is True

    _, commands = await call("GET", f"/providers/{NAME}/commands")
    [command] = commands["commands"]
    assert command.startswith(f"helm upgrade --install {RELEASE} {charts}/dynamo-platform-1.0.0.tgz")
    assert f"--namespace {target}" in command

    status, reply = await call("POST", f"/providers/{NAME}/upgrade", {"version": "1.0.1"})
    assert status == 200 and reply["success"] is True, reply
    await eventually(lambda: installed("1.0.1"), 60, what="REST status installed 1.0.1")

    # A failing upgrade answers with helm's message.
    status, reply = await call("POST", f"/providers/{NAME}/upgrade", {"version": "1.0.1", "values": BAD_TYPE})
    assert status == 200 and reply["success"] is False and "values don't meet" in reply["message"], reply
    status, reply = await call("POST", f"/providers/{NAME}/upgrade", {"values": {}})
    assert status == 200 and reply["success"] is True, reply

    crds_before = await crd_uids(kube)
    status, reply = await call("POST", f"/providers/{NAME}/uninstall")
    assert status == 200 and reply["success"] is True and "CRDs are kept" in reply["message"], reply
    assert await kube.get_or_none(RESOURCE, NAME) is None
    assert helm_releases(cluster, target) == []
    assert await crd_uids(kube) == crds_before
    status, reply = await call("POST", f"/providers/{NAME}/uninstall")
    assert (status, reply["success"]) == (200, True)


def test_the_local_chart_is_assembled_with_the_real_crds(charts: Path, helm_bin: str) -> None:
    shown = subprocess.run(
        [helm_bin, "show", "crds", str(charts / "dynamo-platform-1.0.1.tgz")],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    names = {d["metadata"]["name"] for d in yaml.safe_load_all(shown) if d}
    assert set(DYNAMO.install_spec().crd_names) <= names
    # Never committed: the chart's own crds/ folder holds no CRD in git.
    tracked = subprocess.run(
        ["git", "ls-files", "deploy/local/charts/dynamo-platform/crds"], cwd=REPO, capture_output=True, text=True
    ).stdout.split()
    assert not [t for t in tracked if t.endswith((".yaml", ".yml"))]

"""Shared fixtures: one real cluster per test session, a fresh namespace per test.

The cluster is the local one from deploy/local/cluster.sh (started if needed), or, when
KUBEFOUNDRY_TEST_USE_KUBECONFIG=1, the current context of KUBECONFIG, which must look like a test
cluster (kind-*, kwok-*, k3d-*, minikube, docker-desktop, or a name listed in
KUBEFOUNDRY_TEST_ALLOWED_CONTEXTS).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path

import pytest
import yaml

from harness import (
    CLUSTER_SH,
    SESSION_INSTANCE,
    TEST_CONTEXT_PREFIXES,
    BackgroundProcess,
    Cluster,
    SessionLease,
    create_test_namespace,
    delete_leftover_namespaces,
    install_kubefoundry_crds,
    install_provider_crds,
    operator_env,
)
from kubefoundry.operator.runtime import kube as k
from kubefoundry.operator.runtime.instance import INSTANCE_ENV
from kubefoundry.simulator import localchart

# What this process creates through the in-process API (deployments, ProviderInstalls) is labelled for the
# session operator's instance, as the API next to an operator of that instance would.
os.environ[INSTANCE_ENV] = SESSION_INSTANCE


def _external_cluster() -> Cluster:
    path = os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    first = path.split(os.pathsep)[0]
    cfg = yaml.safe_load(Path(first).read_text())
    context = cfg.get("current-context", "")
    allowed = [c for c in os.environ.get("KUBEFOUNDRY_TEST_ALLOWED_CONTEXTS", "").split(",") if c]
    if not (context.startswith(TEST_CONTEXT_PREFIXES) or context in allowed):
        pytest.exit(
            f"refusing to run the cluster tests against context {context!r}: it does not look like a test "
            "cluster (add it to KUBEFOUNDRY_TEST_ALLOWED_CONTEXTS if it is one)",
            returncode=2,
        )
    return Cluster(kubeconfig=first, kubectl_bin=os.environ.get("KUBECTL", "kubectl"), local=False)


def _local_cluster() -> Cluster:
    subprocess.run(["bash", str(CLUSTER_SH), "up"], check=True, timeout=3600)
    kubeconfig = subprocess.run(
        ["bash", str(CLUSTER_SH), "kubeconfig"], check=True, capture_output=True, text=True
    ).stdout.strip()
    kubectl_bin = subprocess.run(
        ["bash", str(CLUSTER_SH), "kubectl-path"], check=True, capture_output=True, text=True
    ).stdout.strip()
    return Cluster(kubeconfig=kubeconfig, kubectl_bin=kubectl_bin, local=True)


@contextlib.contextmanager
def _session_lease(cluster: Cluster) -> Iterator[None]:
    """This session's Lease, renewed while it runs: what tells other sessions its namespaces are in use."""
    lease = SessionLease(cluster)
    lease.start()
    try:
        yield
    finally:
        lease.stop()


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    if os.environ.get("KUBEFOUNDRY_TEST_USE_KUBECONFIG") == "1":
        external = _external_cluster()
        with _session_lease(external):
            delete_leftover_namespaces(external)
            yield external
        return
    was_running = subprocess.run(["bash", str(CLUSTER_SH), "healthy"], check=False).returncode == 0
    try:
        local = _local_cluster()
        with _session_lease(local):
            removed = delete_leftover_namespaces(local)
            if removed:
                sys.stderr.write(f"[tests] deleted namespaces left by ended test sessions: {', '.join(removed)}\n")
            yield local
    finally:
        # Leave a cluster we found running (make dev, a developer's) alone; stop one we started.
        if not was_running and os.environ.get("KUBEFOUNDRY_KEEP_CLUSTER") != "1":
            subprocess.run(["bash", str(CLUSTER_SH), "stop"], check=False, timeout=120)


@pytest.fixture(scope="session")
def provider_crds(cluster: Cluster) -> Path:
    """Installs the real Dynamo, KubeRay and KAITO CRDs."""
    try:
        return install_provider_crds(cluster)
    except FileNotFoundError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def kubefoundry_crds(cluster: Cluster) -> None:
    install_kubefoundry_crds(cluster)


@pytest.fixture(scope="session")
async def kube(cluster: Cluster) -> AsyncIterator[k.Kube]:
    client = await k.Kube.connect(cluster.kubeconfig)
    yield client
    await client.close()


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    name = f"kf-test-{uuid.uuid4().hex[:8]}"
    create_test_namespace(cluster, name)
    # The ServiceAccount admission plugin rejects pods until the namespace's default account exists.
    for _ in range(100):
        if cluster.kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode == 0:
            break
        subprocess.run(["sleep", "0.1"], check=True)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _is_browser_test(item: pytest.Item) -> bool:
    return "tests/ui" in str(item.path).replace(os.sep, "/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/cluster" in str(item.path).replace(os.sep, "/") or _is_browser_test(item):
            item.add_marker(pytest.mark.cluster)
    # The browser tests last: Playwright's synchronous API keeps an event loop running in this thread from
    # its first test to the end of the session, and no asyncio test can run after that.
    items.sort(key=_is_browser_test)


@pytest.fixture(scope="session")
def local_charts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stand-in dynamo-platform chart, assembled with the real Dynamo CRDs (never committed)."""
    return localchart.assemble(tmp_path_factory.mktemp("charts"), ["1.0.0", "1.0.1"])


@pytest.fixture(scope="session")
def operator(
    cluster: Cluster, kubefoundry_crds: None, local_charts: Path, request: pytest.FixtureRequest
) -> Iterator[BackgroundProcess]:
    """The KubeFoundry operator, watching the whole test cluster.

    It runs as an operator instance of its own (SESSION_INSTANCE), so it leaves alone the ProviderInstalls
    and deployments of the cluster's real operator (`make dev`'s, say) and of the operators tests start;
    a test's deployment reaches it through the instance label (support.kfd, the in-process API).
    """
    env = {**operator_env(local_charts), INSTANCE_ENV: SESSION_INSTANCE}
    proc = BackgroundProcess("operator", [sys.executable, "-m", "kubefoundry.operator"], cluster.kubeconfig, env)
    proc.start()
    yield proc
    proc.stop()
    if request.session.testsfailed or os.environ.get("KUBEFOUNDRY_TEST_SHOW_LOGS") == "1":
        sys.stderr.write(f"\n--- operator log ({proc.log_path}), last 80 lines ---\n")
        sys.stderr.write("\n".join(proc.log().splitlines()[-80:]) + "\n")


# --- the Dynamo STAND-IN controller (not NVIDIA Dynamo) as a subprocess ------------------------------------
# `dynamo_standin` starts `python -m kubefoundry.simulator.dynamo` once per session against the test
# cluster, after the provider CRDs are installed, and waits until its admission policy is enforced and it
# has listed the DynamoGraphDeployments. A failing test that uses it gets the tail of the stand-in's log in
# its report; the stand-in is stopped at the end of the session, and a stand-in that died during the session
# fails the teardown with its log.

READY_MARKER = "ready: watching"
POLICY_MARKER = "admission policy active"
START_TIMEOUT = 90.0
LOG_TAIL_LINES = 150

_running: BackgroundProcess | None = None


def log_tail(proc: BackgroundProcess, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(proc.log().splitlines()[-lines:])


def _exit_code(proc: BackgroundProcess) -> int | None:
    return proc.proc.poll() if proc.proc is not None else None


@pytest.fixture(scope="session")
def dynamo_standin(cluster: Cluster, provider_crds: Path) -> Iterator[BackgroundProcess]:
    """The Dynamo stand-in, reconciling DGDs in every namespace of the test cluster."""
    global _running
    standin = BackgroundProcess(
        "dynamo-standin",
        [sys.executable, "-m", "kubefoundry.simulator.dynamo", "--kubeconfig", cluster.kubeconfig],
        cluster.kubeconfig,
    )
    standin.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while READY_MARKER not in standin.log():
            if not standin.running():
                pytest.fail(
                    f"the Dynamo stand-in exited at startup (code {_exit_code(standin)}); its log "
                    f"({standin.log_path}):\n{log_tail(standin)}",
                    pytrace=False,
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the Dynamo stand-in was not ready after {START_TIMEOUT:.0f}s; its log "
                    f"({standin.log_path}):\n{log_tail(standin)}",
                    pytrace=False,
                )
            time.sleep(0.1)
        if POLICY_MARKER not in standin.log():
            pytest.fail(
                f"the Dynamo stand-in's admission policy is not enforced; its log ({standin.log_path}):\n"
                f"{log_tail(standin)}",
                pytrace=False,
            )
    except BaseException:
        standin.stop()
        raise
    _running = standin
    try:
        yield standin
    finally:
        _running = None
        died = not standin.running()
        standin.stop()
    if died:
        pytest.fail(
            f"the Dynamo stand-in exited during the session (code {_exit_code(standin)}); its log "
            f"({standin.log_path}):\n{log_tail(standin)}",
            pytrace=False,
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and _running is not None and "dynamo_standin" in getattr(item, "fixturenames", ()):
        state = "running" if _running.running() else f"EXITED with code {_exit_code(_running)}"
        report.sections.append((f"Dynamo stand-in log ({state}; {_running.log_path})", log_tail(_running)))
    return report

"""Test harness pieces shared by conftest.py and the cluster tests (importable as `harness`)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from kubefoundry.operator.runtime.instance import INSTANCE_ENV, INSTANCE_LABEL

REPO = Path(__file__).resolve().parent.parent
CLUSTER_SH = REPO / "deploy" / "local" / "cluster.sh"
MANIFEST = REPO / "deploy" / "kubernetes" / "kubefoundry.yaml"
TEST_CONTEXT_PREFIXES = ("kind-", "kwok-", "k3d-", "minikube", "docker-desktop", "rancher-desktop")
NAMESPACE_LABEL = "kubefoundry.io/test"
# Debian's Chromium for the browser tests and the UI benchmark. Without the background-networking flags it
# tries to reach Google's services (nothing may leave this machine); its sandbox needs user namespaces that
# the test machines do not give root.
CHROMIUM = os.environ.get("KUBEFOUNDRY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# The test session that made a namespace ("lease:<name>", see SessionLease), so a later session can tell its
# leftovers apart.
NAMESPACE_OWNER = "kubefoundry.io/test-owner"
# The session operator's instance (runtime/instance.py): it handles only the ProviderInstalls and
# KubeFoundryDeployments labelled with it, so it never reconciles what another operator on the cluster (make
# dev's, one a test starts) handles, nor they its.
SESSION_INSTANCE = f"test-{uuid.uuid4().hex[:6]}"


def instance_label(instance: str | None = SESSION_INSTANCE) -> dict[str, str]:
    """The labels an object needs to be handled by the operator of that instance (None: one without)."""
    return {INSTANCE_LABEL: instance} if instance else {}


@dataclass(frozen=True)
class Cluster:
    kubeconfig: str
    kubectl_bin: str
    local: bool
    name: str = ""  # the local cluster's name for deploy/local/cluster.sh

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.kubectl_bin, "--kubeconfig", self.kubeconfig, *args],
            input=input,
            text=True,
            capture_output=True,
            check=check,
            timeout=120,
        )


def provider_crds_dir() -> Path:
    return Path(os.environ.get("KUBEFOUNDRY_PROVIDER_CRDS", REPO.parent / "shared" / "crds"))


class BackgroundProcess:
    """A KubeFoundry process (operator, stand-in, API) run against the test cluster, with its log kept."""

    def __init__(self, name: str, argv: list[str], kubeconfig: str, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = argv
        # The operator instance is never inherited (the test process acts for the session's): a process
        # handles or labels for an instance only when its caller says so.
        self.env = {
            **{key: value for key, value in os.environ.items() if key != INSTANCE_ENV},
            "KUBECONFIG": kubeconfig,
            "PYTHONUNBUFFERED": "1",
            "PYTHONSAFEPATH": "1",  # the repository's `operator/` must not shadow the stdlib module
            **(env or {}),
        }
        self.log_path = Path(tempfile.mkdtemp(prefix=f"kf-{name}-")) / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        log.close()

    def kill(self) -> None:
        """SIGKILL: no cleanup handlers run, as when a node dies."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def helm_binary() -> str:
    versions = dict(
        line.split("=", 1) for line in (REPO / "deploy/local/versions.env").read_text().splitlines() if "=" in line
    )
    cache = Path(os.environ.get("KUBEFOUNDRY_CACHE") or Path.home() / ".cache" / "kubefoundry")
    path = cache / "bin" / f"helm-{versions['HELM_VERSION'].strip()}"
    if not path.exists():
        subprocess.run(["bash", str(REPO / "deploy/local/build-binaries.sh"), "helm"], check=True, timeout=1800)
    return str(path)


def operator_env(charts: Path) -> dict[str, str]:
    return {
        "KUBEFOUNDRY_RESYNC_SECONDS": "15",
        "KUBEFOUNDRY_HELM": helm_binary(),
        "KUBEFOUNDRY_LOCAL_CHART_ROOTS": str(charts),
    }


def install_kubefoundry_crds(cluster: Cluster) -> None:
    cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "--field-manager", "kubefoundry-test", "-f", str(REPO / "crds")
    )
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")


def install_provider_crds(cluster: Cluster, providers: tuple[str, ...] = ("dynamo", "kuberay", "kaito")) -> Path:
    """The real provider CRDs, by server-side apply (some are close to 1 MB)."""
    crds = provider_crds_dir()
    if not crds.is_dir():
        raise FileNotFoundError(f"provider CRDs not found at {crds}; set KUBEFOUNDRY_PROVIDER_CRDS")
    for provider in providers:
        cluster.kubectl(
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager",
            "kubefoundry-test",
            "-f",
            str(crds / provider),
        )
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    return crds


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_account_kubeconfig(cluster: Cluster, namespace: str, account: str, path: Path) -> Path:
    """Writes a kubeconfig that authenticates as ServiceAccount `namespace/account` (a TokenRequest token)."""
    token = cluster.kubectl("create", "token", account, "-n", namespace, "--duration=2h").stdout.strip()
    admin = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])["context"]
    server = next(c for c in admin["clusters"] if c["name"] == context["cluster"])["cluster"]
    if "certificate-authority" in server:
        ca = base64.b64encode(Path(server["certificate-authority"]).read_bytes()).decode()
    else:
        ca = server["certificate-authority-data"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server["server"], "certificate-authority-data": ca}}],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "c", "user": account}}],
        "current-context": "sa",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def cluster_sh(name: str, *args: str) -> str:
    """Runs deploy/local/cluster.sh for the local cluster called `name`; returns its stdout."""
    env = {**os.environ, "KUBEFOUNDRY_CLUSTER_NAME": name}
    done = subprocess.run(["bash", str(CLUSTER_SH), *args], env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"cluster.sh {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout.strip()


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22); None if none runs."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:  # no /proc: the pid is all there is
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return "?"
    return stat.rpartition(")")[2].split()[19]


def process_owner() -> str:
    """host:pid:start of this test process (the start time tells a reused pid apart): names the owner of
    something on this machine (a dedicated local cluster)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_process_start(os.getpid())}"


def process_gone(owner: str | None) -> bool:
    """Whether the process named by `owner` (see process_owner) ran on this host and has ended."""
    host, pid, start = [*(owner or "").split(":"), "", "", ""][:3]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    running = _process_start(int(pid))
    return running is None or (start not in ("", "?") and running not in (start, "?"))


# --- session liveness on the cluster ------------------------------------------------------------------------
# A session's namespaces name a Lease that the session renews while it runs. Only the cluster is shared, so
# this cannot collide the way a pid judged in the local /proc can (two machines of one hostname sharing a
# cluster through KUBEFOUNDRY_TEST_USE_KUBECONFIG, /proc mounted with hidepid=2).
LEASE_NAMESPACE = "default"
LEASE_PREFIX = "kf-test-session-"
LEASE_SECONDS = 90  # a session is gone once its Lease has not been renewed for this long
RENEW_SECONDS = 15
SESSION_LEASE = f"{LEASE_PREFIX}{uuid.uuid4().hex[:12]}"


def session_owner() -> str:
    """This session, as a namespace's NAMESPACE_OWNER annotation names it."""
    return f"lease:{SESSION_LEASE}"


def _micro_time(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease_manifest(name: str, renewed_at: float, holder: str) -> dict[str, object]:
    spec = {"holderIdentity": holder, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": _micro_time(renewed_at)}
    meta = {"name": name, "namespace": LEASE_NAMESPACE, "labels": {NAMESPACE_LABEL: "true"}}
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta, "spec": spec}


class SessionLease:
    """Creates this session's Lease and renews it from a thread until stopped (then deletes it)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="session-lease", daemon=True)

    def start(self) -> None:
        manifest = lease_manifest(SESSION_LEASE, time.time(), process_owner())
        self.cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))
        self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(RENEW_SECONDS):
            patch = {"spec": {"renewTime": _micro_time(time.time())}}
            self.cluster.kubectl(
                "patch", "lease", SESSION_LEASE, "-n", LEASE_NAMESPACE, "--type=merge", "-p", json.dumps(patch),
                check=False,
            )  # fmt: skip

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.cluster.kubectl("delete", "lease", SESSION_LEASE, "-n", LEASE_NAMESPACE, "--ignore-not-found",
                             check=False)  # fmt: skip


def live_sessions(cluster: Cluster, now: float | None = None) -> set[str]:
    """The owners (session_owner) of the sessions whose Lease was renewed within LEASE_SECONDS; deletes the
    Leases of the others."""
    listed = cluster.kubectl("get", "leases", "-n", LEASE_NAMESPACE, "-l", f"{NAMESPACE_LABEL}=true", "-o", "json")
    now = time.time() if now is None else now
    live, dead = set(), []
    for lease in json.loads(listed.stdout)["items"]:
        name = lease["metadata"]["name"]
        spec = lease.get("spec") or {}
        renewed = str(spec.get("renewTime") or "")
        try:
            at = datetime.strptime(renewed, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
        except ValueError:
            at = 0.0
        if now - at <= int(spec.get("leaseDurationSeconds") or LEASE_SECONDS):
            live.add(f"lease:{name}")
        elif name.startswith(LEASE_PREFIX):
            dead.append(name)
    if dead:
        cluster.kubectl("delete", "lease", *dead, "-n", LEASE_NAMESPACE, "--ignore-not-found", check=False)
    return live


def create_test_namespace(cluster: Cluster, name: str) -> None:
    metadata = {"name": name, "labels": {NAMESPACE_LABEL: "true"}, "annotations": {NAMESPACE_OWNER: session_owner()}}
    manifest = {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}
    cluster.kubectl("create", "-f", "-", input=json.dumps(manifest))


# A test namespace that names no session was made by a checkout older than session records; one this old
# belongs to no running test.
UNOWNED_AFTER_S = 600


def delete_leftover_namespaces(cluster: Cluster, timeout: float = 180) -> list[str]:
    """Deletes test namespaces an interrupted session left behind (their pods would hold GPUs).

    A namespace is a leftover when the Lease of the session that made it is missing or expired; on the local
    cluster, also when it names no session (or names one by a pid, as older checkouts did) and is older than
    UNOWNED_AFTER_S. Waits until they are gone; one that will not go is reported, not fatal (it would fail
    every later session too).
    """
    listed = cluster.kubectl("get", "namespaces", "-l", f"{NAMESPACE_LABEL}=true", "-o", "json").stdout
    live = live_sessions(cluster)
    now = time.time()
    stale = []
    for ns in json.loads(listed)["items"]:
        meta = ns["metadata"]
        owner = (meta.get("annotations") or {}).get(NAMESPACE_OWNER) or ""
        created = datetime.strptime(meta["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
        by_lease = owner.startswith("lease:")
        if (by_lease and owner not in live) or (cluster.local and not by_lease and now - created > UNOWNED_AFTER_S):
            stale.append(meta["name"])
    if not stale:
        return stale
    cluster.kubectl("delete", "namespace", *stale, "--wait=false", check=False)
    deadline = time.monotonic() + timeout
    left = stale
    while time.monotonic() < deadline:
        left = cluster.kubectl("get", "namespaces", *stale, "--ignore-not-found", "-o", "name").stdout.split()
        if not left:
            return stale
        time.sleep(1)
    sys.stderr.write(f"[tests] WARNING: leftover test namespaces still terminating after {timeout}s: {left}\n")
    return stale


def clusters_dir() -> Path:
    """Where deploy/local/cluster.sh keeps the local clusters."""
    cache = os.environ.get("KUBEFOUNDRY_CACHE") or str(Path.home() / ".cache" / "kubefoundry")
    return Path(cache) / "kwok" / "clusters"


OWNER_FILE = ".kubefoundry-test-owner"


def delete_leftover_clusters(prefix: str) -> None:
    """Deletes dedicated clusters `<prefix>-*` whose test session has ended (an interrupted run's)."""
    for found in sorted(clusters_dir().glob(f"{prefix}-*")):
        owner = found / OWNER_FILE
        if owner.is_file() and process_gone(owner.read_text().strip()):
            cluster_sh(found.name, "down")


@contextlib.contextmanager
def dedicated_local_cluster(prefix: str) -> Iterator[Cluster]:
    """A local cluster of this session's own, `<prefix>-<pid>`, for tests that need a whole cluster; deleted
    afterwards. Named per session so that two sessions on one machine never share or delete each other's."""
    delete_leftover_clusters(prefix)
    name = f"{prefix}-{os.getpid()}"
    try:
        cluster_sh(name, "up")
        (clusters_dir() / name / OWNER_FILE).write_text(process_owner())
        yield Cluster(
            kubeconfig=cluster_sh(name, "kubeconfig"),
            kubectl_bin=cluster_sh(name, "kubectl-path"),
            local=True,
            name=name,
        )
    finally:
        cluster_sh(name, "down")

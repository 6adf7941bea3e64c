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
# host:pid:start of the test session that made a namespace, so a later session can tell its leftovers apart.
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


def session_owner() -> str:
    """host:pid:start of this test session; the start time tells a reused pid apart."""
    return f"{socket.gethostname()}:{os.getpid()}:{_process_start(os.getpid())}"


def session_gone(owner: str | None) -> bool:
    """Whether the session named by `owner` (see session_owner) ran on this host and has ended."""
    host, pid, start = [*(owner or "").split(":"), "", "", ""][:3]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    running = _process_start(int(pid))
    return running is None or (start not in ("", "?") and running not in (start, "?"))


def create_test_namespace(cluster: Cluster, name: str) -> None:
    metadata = {"name": name, "labels": {NAMESPACE_LABEL: "true"}, "annotations": {NAMESPACE_OWNER: session_owner()}}
    manifest = {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}
    cluster.kubectl("create", "-f", "-", input=json.dumps(manifest))


# A test namespace that names no session was made by a checkout older than session records; one this old
# belongs to no running test.
UNOWNED_AFTER_S = 600


def delete_leftover_namespaces(cluster: Cluster, timeout: float = 180) -> list[str]:
    """Deletes test namespaces an interrupted session left behind (their pods would hold GPUs).

    A namespace is a leftover when the session that made it, on this host, no longer runs; on the local
    cluster, also when it names no session and is older than UNOWNED_AFTER_S. Waits until they are gone;
    one that will not go is reported, not fatal (it would fail every later session too).
    """
    listed = cluster.kubectl("get", "namespaces", "-l", f"{NAMESPACE_LABEL}=true", "-o", "json").stdout
    now = time.time()
    stale = []
    for ns in json.loads(listed)["items"]:
        meta = ns["metadata"]
        owner = (meta.get("annotations") or {}).get(NAMESPACE_OWNER)
        created = datetime.strptime(meta["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
        if session_gone(owner) or (cluster.local and owner is None and now - created > UNOWNED_AFTER_S):
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
        if owner.is_file() and session_gone(owner.read_text().strip()):
            cluster_sh(found.name, "down")


@contextlib.contextmanager
def dedicated_local_cluster(prefix: str) -> Iterator[Cluster]:
    """A local cluster of this session's own, `<prefix>-<pid>`, for tests that need a whole cluster; deleted
    afterwards. Named per session so that two sessions on one machine never share or delete each other's."""
    delete_leftover_clusters(prefix)
    name = f"{prefix}-{os.getpid()}"
    try:
        cluster_sh(name, "up")
        (clusters_dir() / name / OWNER_FILE).write_text(session_owner())
        yield Cluster(
            kubeconfig=cluster_sh(name, "kubeconfig"),
            kubectl_bin=cluster_sh(name, "kubectl-path"),
            local=True,
            name=name,
        )
    finally:
        cluster_sh(name, "down")

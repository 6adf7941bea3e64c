"""Test harness pieces shared by conftest.py and the cluster tests (importable as `harness`)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLUSTER_SH = REPO / "deploy" / "local" / "cluster.sh"
TEST_CONTEXT_PREFIXES = ("kind-", "kwok-", "k3d-", "minikube", "docker-desktop", "rancher-desktop")
NAMESPACE_LABEL = "kubefoundry.io/test"
# host:pid of the test session that made a namespace, so a later session can tell its leftovers apart.
NAMESPACE_OWNER = "kubefoundry.io/test-owner"


@dataclass(frozen=True)
class Cluster:
    kubeconfig: str
    kubectl_bin: str
    local: bool

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
        self.env = {
            **os.environ,
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


def cluster_sh(name: str, *args: str) -> str:
    """Runs deploy/local/cluster.sh for the local cluster called `name`; returns its stdout."""
    env = {**os.environ, "KUBEFOUNDRY_CLUSTER_NAME": name}
    done = subprocess.run(["bash", str(CLUSTER_SH), *args], env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"cluster.sh {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout.strip()


def session_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def create_test_namespace(cluster: Cluster, name: str) -> None:
    metadata = {"name": name, "labels": {NAMESPACE_LABEL: "true"}, "annotations": {NAMESPACE_OWNER: session_owner()}}
    manifest = {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}
    cluster.kubectl("create", "-f", "-", input=json.dumps(manifest))


def _session_gone(owner: str | None) -> bool:
    host, _, pid = (owner or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def delete_leftover_namespaces(cluster: Cluster, timeout: float = 180) -> list[str]:
    """Deletes test namespaces an interrupted session left behind (their pods would hold GPUs).

    A namespace is a leftover when the session that made it, on this host, no longer runs; on the local
    cluster, also when it names no session (made before sessions were recorded). Waits until they are gone.
    """
    listed = cluster.kubectl("get", "namespaces", "-l", f"{NAMESPACE_LABEL}=true", "-o", "json").stdout
    stale = []
    for ns in json.loads(listed)["items"]:
        owner = (ns["metadata"].get("annotations") or {}).get(NAMESPACE_OWNER)
        if _session_gone(owner) or (cluster.local and owner is None):
            stale.append(ns["metadata"]["name"])
    if not stale:
        return stale
    cluster.kubectl("delete", "namespace", *stale, "--wait=false", check=False)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = cluster.kubectl("get", "namespaces", *stale, "--ignore-not-found", "-o", "name").stdout.split()
        if not left:
            return stale
        time.sleep(1)
    raise RuntimeError(f"leftover test namespaces not gone after {timeout}s: {stale}")


@contextlib.contextmanager
def dedicated_local_cluster(name: str) -> Iterator[Cluster]:
    """A second local cluster for tests that need a whole cluster to themselves; deleted afterwards."""
    cluster_sh(name, "down")  # what an interrupted session left there is not a fresh cluster
    cluster_sh(name, "up")
    try:
        yield Cluster(
            kubeconfig=cluster_sh(name, "kubeconfig"), kubectl_bin=cluster_sh(name, "kubectl-path"), local=True
        )
    finally:
        cluster_sh(name, "down")

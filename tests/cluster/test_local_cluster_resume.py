"""`cluster.sh up` brings a stopped or damaged local cluster back, or says exactly why it cannot.

- A resumed cluster runs pods as soon as `up` returns. A stopped cluster keeps its nodes' Leases, held
  by the KWOK controller that stopped with it; the new controller only plays a node's kubelet once it
  holds the Lease. CI once resumed the cluster of an earlier run and saw no pod start for minutes.
- Components that died are restarted; ports another process took while the cluster was stopped are
  moved; a cluster that cannot start stops at once with the failing component's own error line.
- Every component listens on loopback only.

Runs on a local cluster of its own (stopping the shared one would disturb other tests), except the
loopback check, which reads the session's cluster; skipped against a KUBECONFIG cluster.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import yaml

from harness import CLUSTER_SH, Cluster, cluster_sh, dedicated_local_cluster

NAME = "kf-resume"
# Well below the time the stopped controller's leases take to expire (20 s, deploy/local/kwokctl.yaml)
# plus its successor's retry: `up` must not return before the nodes are taken over.
RUNNING_WITHIN_S = 12


@pytest.fixture(scope="module")
def own_cluster(cluster: Cluster) -> Iterator[Cluster]:
    if not cluster.local:
        pytest.skip("stops and resumes a local cluster; only run on the local simulated cluster")
    with dedicated_local_cluster(NAME) as own:
        yield own


def pin_a_pod_to_every_node(cluster: Cluster, prefix: str) -> list[str]:
    nodes = cluster.kubectl("get", "nodes", "-o", "jsonpath={.items[*].metadata.name}").stdout.split()
    assert len(nodes) >= 3, nodes
    for node in nodes:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"{prefix}-{node}", "namespace": "default"},
            # nodeName skips the scheduler: only the node's (simulated) kubelet can make it Running.
            "spec": {"nodeName": node, "containers": [{"name": "main", "image": "registry.invalid/x:1"}]},
        }
        created = cluster.kubectl("create", "-f", "-", input=json.dumps(pod), check=False)
        assert created.returncode == 0, created.stderr
    return [f"{prefix}-{node}" for node in nodes]


def phases(cluster: Cluster, names: list[str]) -> dict[str, str]:
    out = cluster.kubectl("get", "pods", "-n", "default", "-o", "json").stdout
    found = {p["metadata"]["name"]: p.get("status", {}).get("phase", "") for p in json.loads(out)["items"]}
    return {name: found.get(name, "absent") for name in names}


def wait_running(cluster: Cluster, names: list[str], timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        seen = phases(cluster, names)
        if all(phase == "Running" for phase in seen.values()) or time.monotonic() > deadline:
            return seen
        time.sleep(0.5)


def test_pods_run_on_every_node_right_after_a_resume(own_cluster: Cluster) -> None:
    before = pin_a_pod_to_every_node(own_cluster, "before")
    assert set(wait_running(own_cluster, before, 60).values()) == {"Running"}

    cluster_sh(own_cluster.name, "stop")
    cluster_sh(own_cluster.name, "up")

    after = pin_a_pod_to_every_node(own_cluster, "after")
    seen = wait_running(own_cluster, after, RUNNING_WITHIN_S)
    assert set(seen.values()) == {"Running"}, f"not Running {RUNNING_WITHIN_S}s after `cluster.sh up`: {seen}"


def _cluster_dir(cluster: Cluster) -> Path:
    return Path(cluster.kubeconfig).parent


def _pid(cluster: Cluster, component: str) -> int:
    return int((_cluster_dir(cluster) / "pids" / f"{component}.pid").read_text())


def _up(cluster: Cluster) -> subprocess.CompletedProcess[str]:
    """`cluster.sh up` with its log (stderr), which says what it did."""
    env = {**os.environ, "KUBEFOUNDRY_CLUSTER_NAME": cluster.name}
    return subprocess.run(["bash", str(CLUSTER_SH), "up"], env=env, capture_output=True, text=True, timeout=300)


def _server_port(cluster: Cluster) -> int:
    server = yaml.safe_load(Path(cluster.kubeconfig).read_text())["clusters"][0]["cluster"]["server"]
    return int(server.rsplit(":", 1)[1])


def test_every_component_listens_on_loopback_only(cluster: Cluster) -> None:
    """etcd has no TLS and no authentication: nothing of the local cluster may be reachable from the network."""
    if not cluster.local:
        pytest.skip("inspects the processes of the local cluster")
    pid_files = sorted((_cluster_dir(cluster) / "pids").glob("*.pid"))
    assert {p.stem for p in pid_files} >= {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}
    for pid_file in pid_files:
        sockets = psutil.Process(int(pid_file.read_text())).net_connections(kind="inet")
        listening = {(s.laddr.ip, s.laddr.port) for s in sockets if s.status == psutil.CONN_LISTEN}
        assert listening, f"{pid_file.stem} listens nowhere?"
        exposed = {(ip, port) for ip, port in listening if not ipaddress.ip_address(ip).is_loopback}
        assert not exposed, f"{pid_file.stem} listens beyond loopback: {exposed}"


def test_up_restarts_components_that_died(own_cluster: Cluster) -> None:
    """After the API server froze for 20 s, the controller-manager and the scheduler had exited for good."""
    dead = ["kube-controller-manager", "kube-scheduler"]
    for component in dead:
        os.kill(_pid(own_cluster, component), signal.SIGKILL)
    done = _up(own_cluster)
    assert done.returncode == 0, done.stderr
    assert "kube-controller-manager, kube-scheduler not running; restarting them" in done.stderr, done.stderr
    for component in dead:
        assert psutil.pid_exists(_pid(own_cluster, component)), component
    # The scheduler places pods again, and the controller-manager makes the pods of a Deployment.
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "after-restart", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": "after-restart"}},
            "template": {
                "metadata": {"labels": {"app": "after-restart"}},
                "spec": {"containers": [{"name": "main", "image": "registry.invalid/x:1"}]},
            },
        },
    }
    own_cluster.kubectl("create", "-f", "-", input=json.dumps(deployment))
    own_cluster.kubectl("rollout", "status", "deployment/after-restart", "-n", "default", "--timeout=60s")


def _hold(port: int) -> socket.socket:
    """Listens on `port` as another program would (SO_REUSEADDR, as Go servers do: the stopped cluster's
    connections may still be in TIME_WAIT)."""
    deadline = time.monotonic() + 20
    while True:
        holder = socket.socket()
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            holder.bind(("127.0.0.1", port))
            holder.listen()
            return holder
        except OSError:
            holder.close()
            assert time.monotonic() < deadline, f"port {port} still held by the stopped cluster"
            time.sleep(0.2)


def test_up_moves_ports_another_process_took_while_stopped(own_cluster: Cluster) -> None:
    """kwokctl gives a new cluster the free ports of a stopped one; resuming it then failed with
    `bind: address already in use` and, after two minutes, `API server did not become ready`."""
    own_cluster.kubectl("create", "configmap", "kept", "-n", "default", "--from-literal=a=b")
    config = yaml.safe_load((_cluster_dir(own_cluster) / "kwok.yaml").read_text().split("\n---\n")[0])
    etcd_port = next(c for c in config["components"] if c["name"] == "etcd")["ports"][-1]["port"]
    apiserver_port = _server_port(own_cluster)
    cluster_sh(own_cluster.name, "stop")
    holders = [_hold(etcd_port), _hold(apiserver_port)]
    try:
        done = _up(own_cluster)
        assert done.returncode == 0, done.stderr
        for component, port in (("etcd", etcd_port), ("kube-apiserver", apiserver_port)):
            assert f"{component}: port {port} is taken by another process; using " in done.stderr, done.stderr
        assert _server_port(own_cluster) != apiserver_port
        # The same cluster, its data included, on its new ports.
        assert (
            own_cluster.kubectl("get", "configmap", "kept", "-n", "default", "-o", "jsonpath={.data.a}").stdout == "b"
        )
    finally:
        for holder in holders:
            holder.close()


def test_a_cluster_that_cannot_start_says_why_at_once(own_cluster: Cluster) -> None:
    """Destroys the cluster's data: the last test of this module."""
    cluster_sh(own_cluster.name, "stop")
    (_cluster_dir(own_cluster) / "etcd" / "member" / "snap" / "db").write_bytes(b"\0" * 4096)
    started = time.monotonic()
    done = _up(own_cluster)
    took = time.monotonic() - started
    assert done.returncode != 0
    assert "cannot start: etcd exited" in done.stderr, done.stderr
    assert "etcd: failed to open database" in done.stderr, done.stderr  # etcd's own words
    assert took < 30, f"took {took:.0f}s to give up"  # not kwokctl's two-minute wait

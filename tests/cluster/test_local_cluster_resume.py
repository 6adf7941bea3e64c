"""A local cluster resumed by `cluster.sh up` runs pods as soon as `up` returns.

A stopped cluster keeps its nodes' Leases, held by the KWOK controller that stopped with it; the new
controller only plays a node's kubelet once it holds the Lease. CI once resumed the cluster of an
earlier run and saw no pod start for minutes. Runs on a local cluster of its own (stopping the
shared one would disturb other tests); skipped against a KUBECONFIG cluster.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from harness import Cluster, cluster_sh, dedicated_local_cluster

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

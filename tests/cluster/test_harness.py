"""The test harness cleans up after interrupted sessions without touching a live session's namespaces or clusters."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import uuid

import pytest

import harness
from harness import (
    NAMESPACE_LABEL,
    NAMESPACE_OWNER,
    Cluster,
    cluster_sh,
    create_test_namespace,
    dedicated_local_cluster,
    delete_leftover_namespaces,
)


def _namespace(cluster: Cluster, name: str, owner: str) -> None:
    metadata = {"name": name, "labels": {NAMESPACE_LABEL: "true"}, "annotations": {NAMESPACE_OWNER: owner}}
    manifest = {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}
    cluster.kubectl("create", "-f", "-", input=json.dumps(manifest))


def _lease(cluster: Cluster, name: str, renewed_at: float, holder: str) -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps(harness.lease_manifest(name, renewed_at, holder)))


def test_only_namespaces_of_sessions_that_ended_are_deleted(cluster: Cluster) -> None:
    tag = uuid.uuid4().hex[:6]
    expired, vanished, elsewhere = (f"{harness.LEASE_PREFIX}{kind}-{tag}" for kind in ("expired", "vanished", "other"))
    # A session on another machine of this hostname, with a pid that is dead here (before: judged by the local
    # /proc, its namespaces were deleted mid-run); and one that stopped renewing its Lease long ago.
    dead = subprocess.Popen(["true"])
    dead.wait()
    _lease(cluster, elsewhere, time.time(), f"{socket.gethostname()}:{dead.pid}:1")
    _lease(cluster, expired, time.time() - 10 * harness.LEASE_SECONDS, "gone")
    names = {kind: f"kf-test-{kind}-{tag}" for kind in ("expired", "vanished", "elsewhere", "live")}
    _namespace(cluster, names["expired"], f"lease:{expired}")
    _namespace(cluster, names["vanished"], f"lease:{vanished}")  # its session deleted its Lease, then crashed
    _namespace(cluster, names["elsewhere"], f"lease:{elsewhere}")
    create_test_namespace(cluster, names["live"])  # this session's
    try:
        removed = delete_leftover_namespaces(cluster, timeout=60)
        assert names["expired"] in removed and names["vanished"] in removed, removed
        assert names["elsewhere"] not in removed and names["live"] not in removed, removed
        for kind in ("elsewhere", "live"):
            assert cluster.kubectl("get", "namespace", names[kind], check=False).returncode == 0
        leases = cluster.kubectl("get", "leases", "-n", harness.LEASE_NAMESPACE, "-o", "name").stdout.split()
        assert f"lease.coordination.k8s.io/{expired}" not in leases  # an expired session's Lease goes too
        assert f"lease.coordination.k8s.io/{harness.SESSION_LEASE}" in leases
    finally:
        cluster.kubectl("delete", "namespace", *names.values(), "--ignore-not-found", "--wait=false", check=False)
        cluster.kubectl("delete", "lease", expired, elsewhere, "-n", harness.LEASE_NAMESPACE, "--ignore-not-found",
                        check=False)  # fmt: skip


def test_dedicated_clusters_of_ended_sessions_are_deleted(cluster: Cluster) -> None:
    if not cluster.local:
        pytest.skip("makes local clusters")
    dead = subprocess.Popen(["true"])
    dead.wait()
    prefix = f"kf-left{uuid.uuid4().hex[:4]}"
    name = f"{prefix}-{dead.pid}"
    cluster_sh(name, "up")
    try:
        (harness.clusters_dir() / name / harness.OWNER_FILE).write_text(f"{socket.gethostname()}:{dead.pid}:1")
        with dedicated_local_cluster(prefix) as own:
            assert own.name == f"{prefix}-{os.getpid()}"
            assert not (harness.clusters_dir() / name).exists()
            assert (harness.clusters_dir() / own.name / harness.OWNER_FILE).read_text() == harness.process_owner()
        assert not (harness.clusters_dir() / own.name).exists()
    finally:
        cluster_sh(name, "down")

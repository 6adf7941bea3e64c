"""The test harness cleans up after interrupted sessions without touching a live session's namespaces or clusters."""

from __future__ import annotations

import json
import os
import socket
import subprocess
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


def test_only_namespaces_of_sessions_that_ended_are_deleted(cluster: Cluster) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    leftover, live = f"kf-test-left-{uuid.uuid4().hex[:6]}", f"kf-test-live-{uuid.uuid4().hex[:6]}"
    metadata = {
        "name": leftover,
        "labels": {NAMESPACE_LABEL: "true"},
        "annotations": {NAMESPACE_OWNER: f"{socket.gethostname()}:{dead.pid}"},
    }
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}
    cluster.kubectl("create", "-f", "-", input=json.dumps(namespace))
    create_test_namespace(cluster, live)
    try:
        removed = delete_leftover_namespaces(cluster, timeout=60)
        assert leftover in removed and live not in removed
        assert cluster.kubectl("get", "namespace", leftover, check=False).returncode != 0
        assert cluster.kubectl("get", "namespace", live, check=False).returncode == 0
    finally:
        cluster.kubectl("delete", "namespace", leftover, live, "--ignore-not-found", "--wait=false", check=False)


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
            assert (harness.clusters_dir() / own.name / harness.OWNER_FILE).read_text() == harness.session_owner()
        assert not (harness.clusters_dir() / own.name).exists()
    finally:
        cluster_sh(name, "down")

"""The test harness cleans up after interrupted sessions without touching a live session's namespaces."""

from __future__ import annotations

import json
import socket
import subprocess
import uuid

from harness import NAMESPACE_LABEL, NAMESPACE_OWNER, Cluster, create_test_namespace, delete_leftover_namespaces


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

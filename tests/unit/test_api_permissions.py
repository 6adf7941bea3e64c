"""Every operation that changes something declares the Kubernetes rights its caller needs."""

from __future__ import annotations

from kubefoundry.api.auth import Permission
from kubefoundry.api.routes import operations


def test_every_write_declares_its_rights_and_only_reads_of_nothing_are_public() -> None:
    ops = operations()
    writes = [op for op in ops if op.method in ("POST", "PUT", "PATCH", "DELETE")]
    assert writes and all(op.access is not None for op in writes), [op.operation_id for op in writes if not op.access]
    assert {op.operation_id for op in ops if op.public} == {"getHealth", "getOpenApi"}


def test_a_permission_reads_like_a_kubectl_refusal() -> None:
    scoped = Permission("create", "kubefoundry.io", "kubefoundrydeployments", "team-a")
    assert scoped.describe() == "create kubefoundrydeployments.kubefoundry.io in namespace team-a"
    named = Permission("patch", "", "configmaps", "kubefoundry-system", "kubefoundry-settings")
    assert named.describe() == "patch configmaps 'kubefoundry-settings' in namespace kubefoundry-system"
    assert Permission("list", "", "nodes").describe() == "list nodes across the cluster"

"""The DGD's `status` as Dynamo writes it (notes §2.1): `state`, the `Ready` condition, `services.<key>`
replica counts, `observedGeneration`; and the merge patch that brings the stored status there.

Reasons and messages are upstream's (dynamographdeployment_controller.go). Pure functions.
"""

from __future__ import annotations

from datetime import UTC, datetime

from kubefoundry.operator.runtime.kube import JSON

# Condition reasons and messages as Dynamo writes them (dynamographdeployment_controller.go).
READY = "Ready"
REASON_READY = "all_resources_are_ready"
REASON_NOT_READY = "some_resources_are_not_ready"
REASON_FAILED = "failed_to_reconcile_the_resources"
MESSAGE_READY = "All resources are ready"
# What Dynamo's DGD controller reports for a DynamoComponentDeployment that is not Available.
DCD_NOT_READY = "Component deployment not ready - Available condition not true"


def deployment_ready(deployment: JSON) -> bool:
    """Rolled out: the controller saw the latest spec and every replica is updated, ready and available
    (and no old replica lingers)."""
    want = int((deployment.get("spec") or {}).get("replicas", 1))
    status = deployment.get("status") or {}
    return (
        int(status.get("observedGeneration", 0)) >= int(deployment["metadata"].get("generation", 0))
        and int(status.get("replicas", 0)) == want
        and int(status.get("updatedReplicas", 0)) == want
        and int(status.get("readyReplicas", 0)) == want
        and int(status.get("availableReplicas", 0)) == want
    )


def service_status(deployment: JSON) -> JSON:
    """`status.services.<key>` from the Deployment, as Dynamo's DCD controller fills it."""
    name = deployment["metadata"]["name"]
    status = deployment.get("status") or {}
    return {
        "componentKind": "Deployment",
        "componentName": name,
        "componentNames": [name],
        "replicas": int(status.get("replicas", 0)),
        "updatedReplicas": int(status.get("updatedReplicas", 0)),
        "readyReplicas": int(status.get("readyReplicas", 0)),
        "availableReplicas": int(status.get("availableReplicas", 0)),
    }


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ready_condition(status: str, reason: str, message: str, previous: JSON | None) -> JSON:
    """Like apimachinery's meta.SetStatusCondition: lastTransitionTime moves only when status flips.
    The CRD requires lastTransitionTime, message, reason, status and type."""
    since = previous.get("lastTransitionTime") if previous and previous.get("status") == status else None
    return {
        "type": READY,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": since or now_rfc3339(),
    }


def status_patch(current: JSON, desired: JSON) -> JSON | None:
    """A merge patch turning `current` status into `desired` for the fields we own, or None if equal.
    Conditions are compared without lastTransitionTime; services that disappeared are nulled."""

    def comparable(status: JSON) -> JSON:
        fields = ("type", "status", "reason", "message")
        conds = sorted(
            ({f: c.get(f) for f in fields} for c in status.get("conditions") or []),
            key=lambda c: str(c["type"]),
        )
        return {
            "state": status.get("state"),
            "conditions": conds,
            **{f: status.get(f) for f in ("services", "observedGeneration") if f in desired},
        }

    if comparable(current) == comparable(desired):
        return None
    patch = dict(desired)
    if "services" in desired:
        gone = {key: None for key in (current.get("services") or {}) if key not in desired["services"]}
        patch["services"] = {**gone, **desired["services"]}
    return patch


def ready_conditions(dgd: JSON, status: str, reason: str, message: str) -> list[JSON]:
    """The DGD's conditions with `Ready` set (others kept as they are)."""
    current = (dgd.get("status") or {}).get("conditions") or []
    previous = next((c for c in current if c.get("type") == READY), None)
    others = [c for c in current if c.get("type") != READY]
    return [*others, ready_condition(status, reason, message, previous)]


def failed_status(dgd: JSON, message: str) -> JSON:
    """The reconcile failed: `state: failed`; the services' last counts are left as they were."""
    return {"state": "failed", "conditions": ready_conditions(dgd, "False", REASON_FAILED, message)}


def rollout_status(dgd: JSON, deployments: dict[str, JSON]) -> JSON:
    """The status for the DGD's Deployments (by service key): `successful` once every one is rolled out."""
    not_ready = [
        f"{d['metadata']['name']}: {DCD_NOT_READY}"
        for d in sorted(deployments.values(), key=lambda d: str(d["metadata"]["name"]))
        if not deployment_ready(d)
    ]
    if not_ready:
        message = "Resources not ready: " + "; ".join(not_ready)
        state, cond = "pending", ("False", REASON_NOT_READY, message)
    else:
        state, cond = "successful", ("True", REASON_READY, MESSAGE_READY)
    return {
        "state": state,
        "conditions": ready_conditions(dgd, *cond),
        "services": {key: service_status(d) for key, d in sorted(deployments.items())},
        "observedGeneration": dgd["metadata"].get("generation"),
    }

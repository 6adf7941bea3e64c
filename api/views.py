"""Pure functions from stored objects to the API's views (and the slim forms the caches keep).

The caches call the ``*_entry`` functions on every object they receive, so the memory held per
object is the view plus a few metadata fields, and a GET only filters and serialises.
"""

from __future__ import annotations

from typing import Any

from kubefoundry.operator.models.deployment import Mode, Phase

Obj = dict[str, Any]

_PHASES = frozenset(p.value for p in Phase)


def _slim_meta(obj: Obj, *, labels: bool = False) -> Obj:
    meta = obj.get("metadata") or {}
    out: Obj = {
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "resourceVersion": meta.get("resourceVersion"),
    }
    if labels:
        out["labels"] = dict(meta.get("labels") or {})
    return out


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default


# --- KubeFoundryDeployments ---------------------------------------------------------------------------


def desired_replicas(spec: Obj) -> int:
    """Worker pods the spec asks for (before the operator reports status.desiredReplicas)."""
    if spec.get("mode") == Mode.DISAGGREGATED:
        return sum(_int((spec.get(role) or {}).get("replicas"), 1) for role in ("prefill", "decode"))
    return _int(spec.get("replicas"), 1)


def deployment_provider(kfd: Obj) -> str | None:
    status = kfd.get("status") or {}
    spec = kfd.get("spec") or {}
    value = status.get("provider") or spec.get("provider")
    return str(value) if value else None


def _message(status: Obj, conditions: list[Obj]) -> str | None:
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    if ready is None:
        return None if status else "Waiting for the operator"
    if str(ready.get("status")) == "True":
        return None
    return str(ready.get("message") or ready.get("reason") or "") or None


def deployment_summary(kfd: Obj) -> Obj:
    meta = kfd.get("metadata") or {}
    spec = kfd.get("spec") or {}
    status = kfd.get("status") or {}
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    phase = status.get("phase") if status.get("phase") in _PHASES else Phase.PENDING.value
    if meta.get("deletionTimestamp"):
        phase = Phase.TERMINATING.value
    endpoint = status.get("endpoint")
    return {
        "name": meta.get("name", ""),
        "namespace": meta.get("namespace", ""),
        "modelId": spec.get("modelId", ""),
        "engine": spec.get("engine", "vllm"),
        "mode": spec.get("mode", Mode.AGGREGATED.value),
        "provider": deployment_provider(kfd),
        "phase": phase,
        "replicas": {
            "desired": _int(status.get("desiredReplicas"), desired_replicas(spec)),
            "ready": _int(status.get("readyReplicas")),
            "available": _int(status.get("availableReplicas")),
        },
        "createdAt": meta.get("creationTimestamp", ""),
        "message": _message(status, conditions),
        "endpoint": endpoint if isinstance(endpoint, dict) else None,
        "conditions": conditions,
    }


def deployment_entry(kfd: Obj) -> Obj:
    """What the deployment cache keeps per KubeFoundryDeployment."""
    return {
        "metadata": _slim_meta(kfd),
        "summary": deployment_summary(kfd),
        "provider": deployment_provider(kfd),
    }


# --- pods ------------------------------------------------------------------------------------------------


def _condition(status: Obj, type_: str) -> Obj | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), None)


def pod_reason(pod: Obj) -> str | None:
    status = pod.get("status") or {}
    phase = status.get("phase")
    scheduled = _condition(status, "PodScheduled")
    if phase == "Pending" and scheduled is not None and scheduled.get("status") != "True":
        return str(scheduled.get("message") or scheduled.get("reason") or "") or None
    if phase in ("Pending", "Running"):
        for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
            waiting = (cs.get("state") or {}).get("waiting")
            if waiting and waiting.get("reason") not in (None, "PodInitializing", "ContainerCreating"):
                text = str(waiting.get("reason"))
                return f"{text}: {waiting['message']}" if waiting.get("message") else text
        return None
    if status.get("reason") or status.get("message"):
        return ": ".join(str(x) for x in (status.get("reason"), status.get("message")) if x)
    return None


def pod_summary(pod: Obj) -> Obj:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    ready = _condition(status, "Ready")
    restarts = sum(_int(cs.get("restartCount")) for cs in status.get("containerStatuses") or [])
    return {
        "name": meta.get("name", ""),
        "phase": status.get("phase") or "Pending",
        "ready": bool(ready and ready.get("status") == "True"),
        "restarts": restarts,
        "node": spec.get("nodeName") or None,
        "reason": pod_reason(pod),
    }


def pod_entry(pod: Obj) -> Obj:
    """What the deployment-pod cache keeps per pod."""
    meta = pod.get("metadata") or {}
    return {
        "metadata": _slim_meta(pod, labels=True),
        "creationTimestamp": meta.get("creationTimestamp", ""),
        "summary": pod_summary(pod),
    }

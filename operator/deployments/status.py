"""Computes a KubeFoundryDeployment's status from what was observed. Pure: no I/O.

Conditions follow the Kubernetes API conventions; `phase` is derived from them for people and
printer columns only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..models.common import find_condition, set_condition
from ..models.deployment import KubeFoundryDeploymentSpec, Phase
from ..providers.base import ChildStatus, EndpointInfo

READY = "Ready"
PROVIDER_INSTALLED = "ProviderInstalled"
RESOURCE_ACCEPTED = "ProviderResourceAccepted"
PODS_SCHEDULED = "PodsScheduled"


@dataclass(frozen=True)
class PodInfo:
    name: str
    phase: str
    ready: bool
    unschedulable_message: str | None = None  # the scheduler's own words, when it cannot place the pod


@dataclass
class Observation:
    """Everything one reconcile saw."""

    generation: int
    provider_id: str
    provider_installed: bool
    missing_crd: str = ""
    child_ref: dict[str, str] | None = None
    rejected: str | None = None  # why the API server refused the provider resource
    recreating: str | None = None  # why the provider resource is being replaced
    waiting: str | None = None  # an earlier deployment's provider resource of this name is still deleting
    child: ChildStatus | None = None
    pods: list[PodInfo] = field(default_factory=list)
    endpoint: EndpointInfo | None = None
    namespace: str = ""
    worker_selector: str = ""
    pod_selector: str = ""
    deleting: bool = False


def scheduling_problem(pods: list[PodInfo]) -> str | None:
    messages = sorted({p.unschedulable_message for p in pods if p.unschedulable_message})
    if not messages:
        return None
    stuck = sum(1 for p in pods if p.unschedulable_message)
    return f"{stuck} pod(s) cannot be scheduled: " + " | ".join(messages)


def compute_status(
    spec: KubeFoundryDeploymentSpec, previous: dict[str, Any] | None, obs: Observation
) -> dict[str, Any]:
    prev = previous or {}
    conds: list[dict[str, Any]] = list(prev.get("conditions") or [])
    gen = obs.generation

    def cond(type_: str, status: bool | None, reason: str, message: str) -> None:
        nonlocal conds
        word = "Unknown" if status is None else ("True" if status else "False")
        conds = set_condition(conds, type_, word, reason, message, gen)

    desired = spec.desired_worker_replicas()
    status: dict[str, Any] = {
        "observedGeneration": gen,
        "provider": obs.provider_id,
        "desiredReplicas": desired,
        "replicas": 0,
        "readyReplicas": 0,
        "availableReplicas": 0,
        "selector": obs.worker_selector or None,
        "podSelector": obs.pod_selector or None,
    }

    if not obs.provider_installed:
        message = (
            f"provider {obs.provider_id!r} is not installed: CustomResourceDefinition {obs.missing_crd} "
            f"not found. Install it (kubectl apply a ProviderInstall named {obs.provider_id!r}, or the "
            "KubeFoundry UI/API); this deployment starts by itself once it is there."
        )
        cond(PROVIDER_INSTALLED, False, "ProviderNotInstalled", message)
        cond(
            RESOURCE_ACCEPTED,
            None,
            "WaitingForProvider",
            "the provider resource is created once the provider is installed",
        )
        cond(READY, False, "ProviderNotInstalled", message)
        status["phase"] = Phase.PENDING.value
        status["conditions"] = conds
        return _finish(status, prev, obs)

    cond(PROVIDER_INSTALLED, True, "CRDPresent", f"provider {obs.provider_id!r} is installed")
    if obs.child_ref:
        status["providerResource"] = obs.child_ref

    if obs.rejected is not None:
        cond(RESOURCE_ACCEPTED, False, "Rejected", obs.rejected)
        cond(READY, False, "ProviderResourceRejected", obs.rejected)
        status["phase"] = Phase.FAILED.value
        status["conditions"] = conds
        return _finish(status, prev, obs)

    if obs.waiting is not None:
        cond(RESOURCE_ACCEPTED, False, "WaitingForDeletion", obs.waiting)
        cond(READY, False, "WaitingForDeletion", obs.waiting)
        status["phase"] = Phase.PENDING.value
        status["conditions"] = conds
        return _finish(status, prev, obs)

    if obs.recreating is not None:
        cond(RESOURCE_ACCEPTED, False, "Recreating", obs.recreating)
        cond(READY, False, "Recreating", obs.recreating)
        status["phase"] = Phase.DEPLOYING.value
        status["conditions"] = conds
        return _finish(status, prev, obs)

    cond(RESOURCE_ACCEPTED, True, "Applied", "the provider resource matches the spec")
    child = obs.child
    if child is not None:
        status["replicas"] = child.current if child.current is not None else len(obs.pods)
        status["readyReplicas"] = child.ready_replicas or 0
        status["availableReplicas"] = child.available_replicas or 0

    problem = scheduling_problem(obs.pods)
    serving = child is not None and child.ready and child.observed
    if problem:
        cond(PODS_SCHEDULED, False, "Unschedulable", problem)
    elif obs.pods or serving:
        cond(PODS_SCHEDULED, True, "Scheduled", "every pod is placed on a node")
    else:
        cond(PODS_SCHEDULED, None, "NoPods", "no pods yet")

    if obs.endpoint is not None:
        ep = obs.endpoint
        status["endpoint"] = {
            "service": ep.service,
            "port": ep.port,
            "url": f"http://{ep.service}.{obs.namespace}.svc.cluster.local:{ep.port}/v1",
        }

    if serving:
        cond(READY, True, "Ready", f"serving through {obs.endpoint.service if obs.endpoint else 'the provider'}")
        phase = Phase.RUNNING
    elif child is not None and child.failed:
        cond(READY, False, "ProviderFailed", child.message or f"the provider reports {child.state}")
        phase = Phase.FAILED
    elif problem:
        cond(READY, False, "Unschedulable", problem)
        phase = Phase.PENDING
    else:
        detail = child.message if child is not None and child.message else "waiting for the provider"
        cond(READY, False, "Deploying", detail)
        phase = Phase.DEPLOYING
    status["phase"] = phase.value
    status["conditions"] = conds
    return _finish(status, prev, obs)


def _finish(status: dict[str, Any], prev: dict[str, Any], obs: Observation) -> dict[str, Any]:
    if obs.deleting:
        status["phase"] = Phase.TERMINATING.value
    # Conditions in a stable order make "did anything change" a plain comparison.
    order = {READY: 0, PROVIDER_INSTALLED: 1, RESOURCE_ACCEPTED: 2, PODS_SCHEDULED: 3}
    status["conditions"] = sorted(status.get("conditions") or [], key=lambda c: (order.get(c["type"], 9), c["type"]))
    return {k: v for k, v in status.items() if v is not None}


def transitions(previous: dict[str, Any] | None, current: dict[str, Any]) -> list[dict[str, Any]]:
    """Conditions whose status or reason changed: the moments worth an Event."""
    prev = (previous or {}).get("conditions") or []
    out = []
    for c in current.get("conditions") or []:
        old = find_condition(prev, c["type"])
        if old is None or old.get("status") != c["status"] or old.get("reason") != c["reason"]:
            out.append(c)
    return out

"""Keeps a ProviderInstall's status truthful: what the cluster shows, not what helm said.

A daemon per object runs `detect_installation` (the provider's CRDs exist and its operator Deployment is
Available, in any namespace) every few seconds until Ready, then every half minute.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from ..models.providerinstall import (
    R_APPLIED,
    R_INSTALLED,
    R_NOT_INSTALLED,
    R_WAITING_FOR_OPERATOR,
    RESOURCE,
    ConditionType,
)
from ..providers.detect import detect_installation
from ..runtime import helm
from ..runtime import kube as k
from .status import apply_detection, condition, mark, same_version
from .store import InvalidSpec, emit_event, generation_of, parse_spec, update_status
from .timing import MONITOR_FAST, MONITOR_SLOW

log = logging.getLogger(__name__)


async def observe(kube: k.Kube, name: str) -> k.JSON | None:
    """One look at the cluster: detection into status; WaitingForOperator becomes Applied once it shows."""
    obj = await kube.get_or_none(RESOURCE, name)
    if obj is None or obj["metadata"].get("deletionTimestamp"):
        return None
    try:
        provider, spec = parse_spec(name, obj.get("spec"))
    except InvalidSpec:
        return obj.get("status") or {}
    state = await detect_installation(kube, provider)
    version = helm.effective_version(provider, spec)
    before = bool((obj.get("status") or {}).get("installed"))

    def mutate(status: dict[str, Any], current: k.JSON) -> None:
        gen = generation_of(current)
        apply_detection(status, state, gen)
        prog = condition(status, ConditionType.PROGRESSING)
        if (
            prog is not None
            and prog.get("reason") == R_WAITING_FOR_OPERATOR
            and prog.get("observedGeneration") == gen
            and state.installed
            and same_version(state.version, version)
        ):
            message = f"{provider.name} {state.version} is installed and its operator is Available"
            mark(status, ConditionType.PROGRESSING, False, R_APPLIED, message, gen)

    status = await update_status(kube, name, mutate)
    if status is not None and bool(status.get("installed")) != before:
        if status.get("installed"):
            message = f"{provider.name} is installed (version {state.version or 'unknown'})"
            emit_event(obj, "Normal", R_INSTALLED, message)
        else:
            installed = condition(status, ConditionType.INSTALLED) or {}
            message = f"{provider.name} is no longer installed: {installed.get('message') or 'not detected'}"
            emit_event(obj, "Warning", R_NOT_INSTALLED, message)
    return status


async def monitor(kube: k.Kube, name: str, stopped: kopf.DaemonStopped) -> None:
    while not stopped:
        interval = MONITOR_FAST
        try:
            status = await observe(kube, name)
            if status is None:
                return
            ready = condition(status, ConditionType.READY)
            if ready is not None and ready.get("status") == "True":
                interval = MONITOR_SLOW
        except (k.KubeError, k.ClusterUnavailable, kopf.TemporaryError) as exc:
            log.warning("ProviderInstall %s: observing the installation failed: %s", name, exc)
            interval = MONITOR_SLOW
        await stopped.wait(interval)

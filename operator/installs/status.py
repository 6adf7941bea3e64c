"""Computes a ProviderInstall's status: conditions, steps, detection results. Pure: no I/O.

`derive_ready` makes Ready from the other conditions, so every writer (the install and uninstall
handlers, the monitor daemon) agrees on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from ..models.common import find_condition, now_rfc3339, set_condition
from ..models.providerinstall import (
    MAX_STEP_MESSAGE,
    MAX_STEPS,
    R_DETECTED,
    R_INSTALLED,
    R_INSTALLED_EXTERNALLY,
    R_MANAGED_ELSEWHERE,
    R_NOT_INSTALLED,
    R_PENDING,
    R_VERSION_MISMATCH,
    ConditionType,
    ProviderInstallSpec,
    StepAction,
    StepOutcome,
)
from ..providers import UnknownProvider, get_provider
from ..providers.detect import InstallationState
from ..runtime import helm
from ..runtime import kube as k

# Changes one status in place (given the object it belongs to); see store.update_status.
Mutator = Callable[[dict[str, Any], k.JSON], None]


def condition(status: dict[str, Any], type_: ConditionType) -> dict[str, Any] | None:
    return find_condition(status.get("conditions"), type_)


def mark(status: dict[str, Any], type_: ConditionType, value: bool | None, reason: str, message: str, gen: int) -> None:
    """Sets condition `type_` to True/False (Unknown for None)."""
    word = "Unknown" if value is None else ("True" if value else "False")
    status["conditions"] = set_condition(
        list(status.get("conditions") or []), type_, word, reason, message[:32768], gen
    )


def add_step(
    status: dict[str, Any],
    step: helm.ChartStep | None,
    action: StepAction,
    outcome: StepOutcome,
    message: str,
    *,
    chart: str = "",
    release: str = "",
    namespace: str = "",
    version: str = "",
) -> None:
    entry = {
        "chart": step.chart if step else chart,
        "release": step.release if step else release,
        "namespace": step.namespace if step else namespace,
        "version": step.version if step else version,
        "action": str(action),
        "outcome": str(outcome),
        "message": helm.trim(message, MAX_STEP_MESSAGE),
        "time": now_rfc3339(),
    }
    status["steps"] = [*list(status.get("steps") or []), entry][-MAX_STEPS:]


def step_recorder(step: helm.ChartStep, action: StepAction, outcome: StepOutcome, message: str) -> Mutator:
    def mutate(status: dict[str, Any], current: k.JSON) -> None:
        add_step(status, step, action, outcome, message)

    return mutate


def apply_detection(status: dict[str, Any], state: InstallationState, generation: int) -> None:
    status["installed"] = state.installed
    status["crdInstalled"] = state.crd_installed
    status["operatorInstalled"] = state.operator_installed
    if state.version:
        status["version"] = state.version
    else:
        status.pop("version", None)
    if state.installed:
        where = f" in namespace {state.operator_namespace}" if state.operator_namespace else ""
        message = f"CRDs exist and the operator is Available{where}"
        mark(status, ConditionType.INSTALLED, True, R_DETECTED, message, generation)
        return
    parts = []
    if not state.crd_installed:
        parts.append("missing CRDs: " + ", ".join(state.missing_crds))
    if not state.operator_installed:
        parts.append("no Available operator Deployment in any namespace")
    mark(status, ConditionType.INSTALLED, False, R_NOT_INSTALLED, "; ".join(parts), generation)


def same_version(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and str(a).removeprefix("v") == str(b).removeprefix("v")


def derive_ready(status: dict[str, Any], generation: int, desired_version: str | None) -> None:
    """Ready from the other conditions: helm applied this generation, nothing failed, the cluster shows it."""
    installed = condition(status, ConditionType.INSTALLED)
    failed = condition(status, ConditionType.FAILED)
    prog = condition(status, ConditionType.PROGRESSING)
    is_installed = bool(installed) and (installed or {}).get("status") == "True"
    if failed and failed.get("status") == "True":
        mark(status, ConditionType.READY, False, str(failed["reason"]), str(failed.get("message") or ""), generation)
    elif prog is None or prog.get("observedGeneration") != generation:
        mark(status, ConditionType.READY, False, R_PENDING, f"generation {generation} not processed yet", generation)
    elif prog.get("status") == "True":
        mark(status, ConditionType.READY, False, str(prog["reason"]), str(prog.get("message") or ""), generation)
    elif prog.get("reason") == R_MANAGED_ELSEWHERE:
        reason = R_INSTALLED_EXTERNALLY if is_installed else R_NOT_INSTALLED
        mark(status, ConditionType.READY, is_installed, reason, str(prog.get("message") or ""), generation)
    elif not is_installed:
        message = str((installed or {}).get("message") or "not detected yet")
        mark(status, ConditionType.READY, False, R_NOT_INSTALLED, message, generation)
    elif desired_version and status.get("version") and not same_version(status.get("version"), desired_version):
        message = f"the cluster shows version {status.get('version')}, the spec asks for {desired_version}"
        mark(status, ConditionType.READY, False, R_VERSION_MISMATCH, message, generation)
    else:
        message = f"version {status.get('version') or desired_version} is installed"
        mark(status, ConditionType.READY, True, R_INSTALLED, message, generation)


def desired_version(obj: k.JSON) -> str | None:
    """The version the object's spec asks for (the provider's default when it names none); None if invalid."""
    try:
        spec = ProviderInstallSpec.model_validate(obj.get("spec") or {})
        return helm.effective_version(get_provider(spec.provider), spec)
    except (ValidationError, UnknownProvider):
        return None

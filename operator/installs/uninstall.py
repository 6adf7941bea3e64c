"""Uninstalling a provider (behind the finalizer): `helm uninstall` of each of its releases, newest chart
first. CRDs are kept unless spec.removeCrdsOnDelete, because deleting a CRD deletes every object of that
kind; a release that holds CRDs is then kept whole.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import kopf

from ..models.providerinstall import (
    R_IN_PROGRESS,
    R_UNINSTALL_FAILED,
    R_UNINSTALLING,
    ConditionType,
    ProviderInstallSpec,
    StepAction,
    StepOutcome,
)
from ..providers import Provider
from ..runtime import helm
from ..runtime import kube as k
from .status import add_step, mark
from .store import InvalidSpec, describe_release, emit_event, generation_of, parse_spec, update_status
from .timing import PENDING_RECHECK, retry_delay

log = logging.getLogger(__name__)

# Records one step in status: (action, outcome, message, chart, release, namespace).
Recorder = Callable[[StepAction, StepOutcome, str, str, str, str], Awaitable[Any]]


async def uninstall(kube: k.Kube, obj: k.JSON, retry: int) -> None:
    name = obj["metadata"]["name"]
    generation = generation_of(obj)
    try:
        provider, spec = parse_spec(name, obj.get("spec"))
    except InvalidSpec:
        return  # nothing can have been installed from an invalid spec
    version = helm.effective_version(provider, spec)

    def record(action: StepAction, outcome: StepOutcome, message: str, chart: str, release: str, ns: str) -> Any:
        def mutate(status: dict[str, Any], current: k.JSON) -> None:
            add_step(
                status, None, action, outcome, message, chart=chart, release=release, namespace=ns, version=version
            )

        return update_status(kube, name, mutate)

    def progressing(status: dict[str, Any], current: k.JSON) -> None:
        mark(status, ConditionType.PROGRESSING, True, R_UNINSTALLING, "helm uninstall", generation)

    await update_status(kube, name, progressing)
    for chart in reversed(helm.all_charts(provider)):
        ns = helm.chart_namespace(provider, spec, chart)
        try:
            rel = await helm.find_release(chart.release, ns)
            if rel is None:
                continue
            if rel.state == helm.ReleaseState.IN_PROGRESS:
                message = f"{describe_release(rel)}: another helm operation is in progress; waiting for it to end"
                await record(StepAction.UNINSTALL, StepOutcome.WAITING, message, chart.chart, chart.release, ns)
                emit_event(obj, "Warning", R_IN_PROGRESS, message)
                raise kopf.TemporaryError(message, delay=PENDING_RECHECK)
            if not spec.removeCrdsOnDelete:
                crds = [
                    n
                    for kind, n in helm.manifest_kinds(await helm.manifest(rel.name, ns))
                    if kind == "CustomResourceDefinition"
                ]
                if crds:
                    message = (
                        f"release {rel.name} holds the CRDs {', '.join(crds)}; kept with them because "
                        "spec.removeCrdsOnDelete is false (uninstalling it would delete every object of those kinds)"
                    )
                    await record(StepAction.UNINSTALL, StepOutcome.SKIPPED, message, chart.chart, chart.release, ns)
                    emit_event(obj, "Normal", "CrdsKept", message)
                    continue
            result = await helm.uninstall(rel.name, ns)
        except helm.HelmError as exc:
            await _uninstall_failed(kube, obj, exc.message)
            raise kopf.TemporaryError(exc.message, delay=retry_delay(retry)) from None
        if not result.ok and "not found" not in result.message:
            await record(StepAction.UNINSTALL, StepOutcome.FAILED, result.message, chart.chart, chart.release, ns)
            await _uninstall_failed(kube, obj, result.message)
            raise kopf.TemporaryError(f"helm uninstall failed: {result.message}", delay=retry_delay(retry))
        await record(StepAction.UNINSTALL, StepOutcome.SUCCEEDED, result.message, chart.chart, chart.release, ns)
        emit_event(obj, "Normal", "Uninstalled", result.message)

    if spec.removeCrdsOnDelete:
        await _delete_crds(kube, obj, provider, spec, record)
    else:
        emit_event(obj, "Normal", "CrdsKept", f"{provider.name}'s CRDs are kept (spec.removeCrdsOnDelete is false)")


async def _delete_crds(
    kube: k.Kube, obj: k.JSON, provider: Provider, spec: ProviderInstallSpec, record: Recorder
) -> None:
    names = set(provider.install_spec().crd_names)
    try:
        for step in helm.plan(provider, spec, local_roots=helm.local_chart_roots()):
            names.update(await helm.chart_crd_names(step))
    except (helm.HelmError, helm.ChartSourceError, ValueError) as exc:
        log.warning("listing the charts' CRDs failed (deleting the provider's known CRDs only): %s", exc)
    for crd in sorted(names):
        if await kube.delete(k.CRDS, crd) is not None:
            await record(StepAction.DELETE_CRDS, StepOutcome.SUCCEEDED, f"deleted CRD {crd}", "", crd, "")
    emit_event(obj, "Normal", "CrdsDeleted", f"deleted {provider.name}'s CRDs: {', '.join(sorted(names))}")


async def _uninstall_failed(kube: k.Kube, obj: k.JSON, message: str) -> None:
    generation = generation_of(obj)

    def mutate(status: dict[str, Any], current: k.JSON) -> None:
        mark(status, ConditionType.FAILED, True, R_UNINSTALL_FAILED, f"{message} (retrying with backoff)", generation)

    await update_status(kube, obj["metadata"]["name"], mutate)
    emit_event(obj, "Warning", R_UNINSTALL_FAILED, message)

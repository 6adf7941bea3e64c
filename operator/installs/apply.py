"""Installing and upgrading a provider: `helm upgrade --install` of every chart the spec's version needs.

Failures are reported (status, Events, helm's own message) and retried by kopf with exponential backoff
(kopf.TemporaryError); a spec that can never work is a kopf.PermanentError.

Stuck and failed releases (see also helm.ReleaseState):
- `pending-install` / `pending-upgrade` / `pending-rollback` / `uninstalling`: another helm operation
  is in progress. Nothing is started; the step is reported as Waiting (Progressing=True,
  HelmOperationInProgress) and the handler is retried every 15 s. A release pending for longer than
  $KUBEFOUNDRY_HELM_STUCK_SECONDS (15 min) is reported as stuck (Failed=True, ReleaseStuck) with the
  remedy (`helm rollback` or `helm uninstall`), still without touching it: only a person can know that
  the other operation is dead.
- `failed`: the last helm operation on the release failed. It is retried with `helm upgrade --install`
  (which is how helm recovers a failed release), with backoff; every attempt is a step in status and a
  Warning Event naming the failed revision, so nothing is overwritten silently.
- Someone else's installation (an Available operator Deployment that is not from one of this spec's
  releases, while none of them exists): nothing is installed (the real chart refuses a second operator
  anyway); Progressing=False with reason ManagedElsewhere, and deletion uninstalls nothing.
"""

from __future__ import annotations

from typing import Any

import kopf

from ..models.providerinstall import (
    R_APPLIED,
    R_CHART_SOURCE,
    R_HELM_FAILED,
    R_HELM_UNAVAILABLE,
    R_IN_PROGRESS,
    R_INSTALLING,
    R_MANAGED_ELSEWHERE,
    R_STUCK,
    R_SUCCEEDED,
    R_UPGRADING,
    R_WAITING_FOR_OPERATOR,
    ConditionType,
    StepAction,
    StepOutcome,
)
from ..providers import Provider
from ..providers.detect import detect_installation
from ..runtime import helm
from ..runtime import kube as k
from .status import Mutator, add_step, apply_detection, mark, same_version, step_recorder
from .store import InvalidSpec, describe_release, emit_event, generation_of, parse_spec, update_status
from .timing import PENDING_RECHECK, STUCK_AFTER, retry_delay

HELM_RELEASE_NAME = "meta.helm.sh/release-name"
HELM_RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"


async def reconcile(kube: k.Kube, obj: k.JSON, retry: int) -> None:
    """Brings the cluster to the spec with helm; raises kopf errors for kopf's retry machinery."""
    name = obj["metadata"]["name"]
    generation = generation_of(obj)
    try:
        provider, spec = parse_spec(name, obj.get("spec"))
        steps = helm.plan(provider, spec, local_roots=helm.local_chart_roots())
    except InvalidSpec as exc:
        raise await _permanent_failure(kube, obj, exc.reason, exc.message) from None
    except (helm.ChartSourceError, ValueError) as exc:
        raise await _permanent_failure(kube, obj, R_CHART_SOURCE, str(exc)) from None
    version = helm.effective_version(provider, spec)
    namespace = helm.effective_namespace(provider, spec)

    try:
        releases = {(s.release, s.namespace): await helm.find_release(s.release, s.namespace) for s in steps}
    except helm.HelmError as exc:
        await _temporary_failure(kube, obj, None, StepAction.CHECK, R_HELM_UNAVAILABLE, exc.message)
        raise kopf.TemporaryError(exc.message, delay=retry_delay(retry)) from None

    # Someone else's installation, and none of ours: do not install a second copy.
    if not any(releases.values()):
        others = await external_operators(kube, provider, steps)
        if others:
            d = others[0]["metadata"]
            message = (
                f"{provider.name} is already installed without this ProviderInstall: operator Deployment "
                f"{d.get('namespace')}/{d.get('name')}; KubeFoundry does not install a second copy and will not "
                "uninstall it"
            )
            state = await detect_installation(kube, provider)

            def managed_elsewhere(status: dict[str, Any], current: k.JSON) -> None:
                status["observedGeneration"] = generation
                status["namespace"] = namespace
                apply_detection(status, state, generation)
                mark(status, ConditionType.FAILED, False, R_MANAGED_ELSEWHERE, "", generation)
                mark(status, ConditionType.PROGRESSING, False, R_MANAGED_ELSEWHERE, message, generation)

            await update_status(kube, name, managed_elsewhere)
            emit_event(obj, "Normal", R_MANAGED_ELSEWHERE, message)
            return

    # Another helm operation in progress (or stuck): start nothing, report, look again later.
    for step in steps:
        rel = releases[(step.release, step.namespace)]
        if rel is None or rel.state != helm.ReleaseState.IN_PROGRESS:
            continue
        age = rel.age_seconds()
        stuck = age is not None and age > STUCK_AFTER
        if age is not None and stuck:
            message = (
                f"{describe_release(rel)} for {age / 60:.0f} minutes: the helm operation that started it seems "
                f"to have died. KubeFoundry will not touch it; recover it with `helm rollback {rel.name} -n "
                f"{rel.namespace}` or `helm uninstall {rel.name} -n {rel.namespace}`"
            )
        else:
            message = f"{describe_release(rel)}: another helm operation is in progress; waiting for it to end"

        await update_status(kube, name, _waiting(step, message, stuck, generation, namespace))
        emit_event(obj, "Warning", R_STUCK if stuck else R_IN_PROGRESS, message)
        raise kopf.TemporaryError(message, delay=PENDING_RECHECK * (4 if stuck else 1))

    upgrading = any(releases.values())
    reason = R_UPGRADING if upgrading else R_INSTALLING
    what = ", ".join(f"{s.release} ({s.chart} {s.version}) into {s.namespace}" for s in steps)
    start_message = f"helm upgrade --install {what}" + (f" (attempt {retry + 1})" if retry else "")

    def starting(status: dict[str, Any], current: k.JSON) -> None:
        status["namespace"] = namespace
        mark(status, ConditionType.PROGRESSING, True, reason, start_message, generation)

    await update_status(kube, name, starting)
    emit_event(obj, "Normal", reason, start_message)

    for step in steps:
        rel = releases[(step.release, step.namespace)]
        action = StepAction.INSTALL if rel is None else StepAction.UPGRADE
        if rel is not None and rel.state == helm.ReleaseState.FAILED:
            detail = ""
            try:
                described = await helm.status(rel.name, rel.namespace)
                detail = str(((described or {}).get("info") or {}).get("description") or "")
            except helm.HelmError as exc:
                detail = exc.message
            message = f"{describe_release(rel)}: {detail.strip()}; retrying with helm upgrade --install"
            emit_event(obj, "Warning", "ReleaseFailed", message)
            await update_status(kube, name, step_recorder(step, StepAction.CHECK, StepOutcome.FAILED, message))
        try:
            result = await helm.upgrade_install(step)
        except helm.HelmError as exc:
            await _temporary_failure(kube, obj, step, action, R_HELM_UNAVAILABLE, exc.message)
            raise kopf.TemporaryError(exc.message, delay=retry_delay(retry)) from None
        if not result.ok:
            await _temporary_failure(kube, obj, step, action, R_HELM_FAILED, result.message)
            raise kopf.TemporaryError(f"helm failed: {result.message}", delay=retry_delay(retry))

        await update_status(kube, name, step_recorder(step, action, StepOutcome.SUCCEEDED, result.message))

    state = await detect_installation(kube, provider)
    done = f"helm applied {what}"

    def applied(status: dict[str, Any], current: k.JSON) -> None:
        status["observedGeneration"] = generation
        apply_detection(status, state, generation)
        mark(status, ConditionType.FAILED, False, R_SUCCEEDED, done, generation)
        if state.installed and same_version(state.version, version):
            mark(status, ConditionType.PROGRESSING, False, R_APPLIED, done, generation)
        else:
            message = f"{done}; waiting for the operator Deployment to become Available"
            mark(status, ConditionType.PROGRESSING, True, R_WAITING_FOR_OPERATOR, message, generation)

    await update_status(kube, name, applied)
    emit_event(obj, "Normal", "HelmSucceeded", done)


async def external_operators(kube: k.Kube, provider: Provider, steps: list[helm.ChartStep]) -> list[k.JSON]:
    """Available operator Deployments of the provider that none of `steps`' releases manages."""
    labels = provider.install_spec().operator_labels
    selector = ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
    ours = {(s.release, s.namespace) for s in steps}
    found = []
    for d in (await kube.list(k.DEPLOYMENTS, label_selector=selector)).get("items") or []:
        annotations = (d.get("metadata") or {}).get("annotations") or {}
        owner = (annotations.get(HELM_RELEASE_NAME), annotations.get(HELM_RELEASE_NAMESPACE))
        if owner not in ours and _available(d):
            found.append(d)
    return found


def _available(deployment: k.JSON) -> bool:
    conditions = (deployment.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Available" and c.get("status") == "True" for c in conditions)


def _waiting(step: helm.ChartStep, message: str, stuck: bool, generation: int, namespace: str) -> Mutator:
    def mutate(status: dict[str, Any], current: k.JSON) -> None:
        status["observedGeneration"] = generation
        status["namespace"] = namespace
        add_step(status, step, StepAction.CHECK, StepOutcome.WAITING, message)
        mark(status, ConditionType.FAILED, stuck, R_STUCK if stuck else R_IN_PROGRESS, message, generation)
        mark(status, ConditionType.PROGRESSING, True, R_IN_PROGRESS, message, generation)

    return mutate


async def _permanent_failure(kube: k.Kube, obj: k.JSON, reason: str, message: str) -> kopf.PermanentError:
    def mutate(status: dict[str, Any], current: k.JSON) -> None:
        gen = generation_of(current)
        status["observedGeneration"] = gen
        mark(status, ConditionType.FAILED, True, reason, message, gen)
        mark(status, ConditionType.PROGRESSING, False, reason, message, gen)

    await update_status(kube, obj["metadata"]["name"], mutate)
    emit_event(obj, "Warning", reason, message)
    return kopf.PermanentError(message)


async def _temporary_failure(
    kube: k.Kube, obj: k.JSON, step: helm.ChartStep | None, action: StepAction, reason: str, message: str
) -> None:
    generation = generation_of(obj)
    text = f"{message} (retrying with backoff)"

    def mutate(status: dict[str, Any], current: k.JSON) -> None:
        status["observedGeneration"] = generation
        if step is not None:
            add_step(status, step, action, StepOutcome.FAILED, message)
        mark(status, ConditionType.FAILED, True, reason, text, generation)
        mark(status, ConditionType.PROGRESSING, False, reason, text, generation)

    await update_status(kube, obj["metadata"]["name"], mutate)
    emit_event(obj, "Warning", reason, message)

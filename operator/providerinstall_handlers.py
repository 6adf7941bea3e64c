"""kopf handlers for ProviderInstall: install, upgrade and uninstall a provider with the real helm.

- create / spec update (`providerinstall_apply`): `helm upgrade --install` of every chart the spec's
  version needs (helm.plan), in order. Failures are reported (status, Events, helm's own message) and
  retried by kopf with exponential backoff (kopf.TemporaryError).
- delete (`providerinstall_delete`, behind the finalizer): `helm uninstall` of every release of the
  provider that exists, in reverse order; CRDs are kept unless spec.removeCrdsOnDelete.
- a daemon per object (`providerinstall_monitor`) keeps installed / crdInstalled / operatorInstalled /
  version and the Installed and Ready conditions truthful with `detect_installation`: what the cluster
  shows, not what helm said. It polls every few seconds until Ready, then every half minute.

Registration: importing this module registers the handlers in kopf's default registry (as
`python -m kubefoundry.operator` expects); `register(registry)` registers them in another one.
`configure(settings)` sets the finalizer and kopf's bookkeeping annotations to KubeFoundry's names.
ProviderInstall is cluster-scoped: kopf serves it only when the operator runs cluster-wide.
`python -m kubefoundry.operator.providerinstall_handlers` runs these handlers alone (tests, development).

Several operators on one cluster: one started with $KUBEFOUNDRY_OPERATOR_INSTANCE=x handles only
ProviderInstalls labelled kubefoundry.io/operator-instance=x, with a finalizer and annotations of its own;
one without it handles only unlabelled ones.

Helm settings (environment): $KUBEFOUNDRY_HELM (binary; else `helm` on PATH), $KUBEFOUNDRY_LOCAL_CHART_ROOTS
(directories local chart sources may lie under), $KUBEFOUNDRY_HELM_TIMEOUT_SECONDS; retry and polling knobs
below (KUBEFOUNDRY_INSTALL_RETRY_BASE_SECONDS / _MAX_SECONDS, ...).

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

import asyncio
import copy
import logging
import os
from collections.abc import Callable
from typing import Any, cast

import kopf
from pydantic import ValidationError

from . import helm
from . import kube as k
from .models.common import GROUP, VERSION, find_condition, now_rfc3339, set_condition
from .models.providerinstall import (
    KIND,
    MAX_STEP_MESSAGE,
    MAX_STEPS,
    PLURAL,
    ConditionType,
    ProviderInstallSpec,
    StepAction,
    StepOutcome,
)
from .providers import Provider, UnknownProvider, get_provider
from .providers.detect import InstallationState, detect_installation

log = logging.getLogger(__name__)

RESOURCE = k.Resource(GROUP, VERSION, PLURAL, KIND, namespaced=False)
FINALIZER = "kubefoundry.io/finalizer"
ANNOTATION_PREFIX = "kubefoundry.io"
FIELD_MANAGER = "kubefoundry-providerinstall"

# Several operators on one cluster (a developer's next to the deployed one, tests next to both): an operator
# started with $KUBEFOUNDRY_OPERATOR_INSTANCE=x handles only ProviderInstalls labelled with x; one without it
# only those without the label. The API labels the ProviderInstalls it creates the same way.
INSTANCE_ENV = "KUBEFOUNDRY_OPERATOR_INSTANCE"
INSTANCE_LABEL = "kubefoundry.io/operator-instance"

HELM_RELEASE_NAME = "meta.helm.sh/release-name"
HELM_RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, "") or default)
    except ValueError:
        return default


RETRY_BASE = _env_float("KUBEFOUNDRY_INSTALL_RETRY_BASE_SECONDS", 10.0)
RETRY_MAX = _env_float("KUBEFOUNDRY_INSTALL_RETRY_MAX_SECONDS", 300.0)
PENDING_RECHECK = _env_float("KUBEFOUNDRY_HELM_PENDING_RECHECK_SECONDS", 15.0)
STUCK_AFTER = _env_float("KUBEFOUNDRY_HELM_STUCK_SECONDS", 900.0)
MONITOR_FAST = _env_float("KUBEFOUNDRY_INSTALL_MONITOR_FAST_SECONDS", 2.0)
MONITOR_SLOW = _env_float("KUBEFOUNDRY_INSTALL_MONITOR_SECONDS", 30.0)

# Reasons (one CamelCase word each).
R_INSTALLING = "Installing"
R_UPGRADING = "Upgrading"
R_UNINSTALLING = "Uninstalling"
R_WAITING_FOR_OPERATOR = "WaitingForOperator"
R_APPLIED = "Applied"
R_MANAGED_ELSEWHERE = "ManagedElsewhere"
R_IN_PROGRESS = "HelmOperationInProgress"
R_STUCK = "ReleaseStuck"
R_HELM_FAILED = "HelmFailed"
R_UNINSTALL_FAILED = "UninstallFailed"
R_HELM_UNAVAILABLE = "HelmUnavailable"
R_INVALID_SPEC = "InvalidSpec"
R_UNKNOWN_PROVIDER = "UnknownProvider"
R_CHART_SOURCE = "ChartSourceNotAllowed"
R_SUCCEEDED = "Succeeded"
R_DETECTED = "Detected"
R_NOT_INSTALLED = "NotInstalled"
R_INSTALLED = "Installed"
R_INSTALLED_EXTERNALLY = "InstalledExternally"
R_VERSION_MISMATCH = "VersionMismatch"
R_PENDING = "Pending"

# Changes one status in place (given the object it belongs to); see update_status.
Mutator = Callable[[dict[str, Any], k.JSON], None]


def configure(settings: kopf.OperatorSettings) -> None:
    """KubeFoundry's finalizer and bookkeeping annotations (operator-wide settings in kopf).

    kopf has one finalizer per operator, so the name is the project's, not this kind's. An operator
    instance ($KUBEFOUNDRY_OPERATOR_INSTANCE) gets names of its own: kopf removes its finalizer from
    every watched object that none of its handlers needs, so two operators sharing one finalizer name
    would strip each other's and let objects go without their uninstall.
    """
    prefix = annotation_prefix()
    settings.persistence.finalizer = finalizer_name()
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=prefix)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=prefix, key="last-handled-configuration"
    )


def operator_instance() -> str | None:
    return os.environ.get(INSTANCE_ENV) or None


def finalizer_name() -> str:
    instance = operator_instance()
    return f"{FINALIZER}-{instance}" if instance else FINALIZER


def annotation_prefix() -> str:
    instance = operator_instance()
    return f"{instance}.{ANNOTATION_PREFIX}" if instance else ANNOTATION_PREFIX


def instance_labels() -> dict[str, str]:
    """Labels a ProviderInstall needs to be handled by an operator with this process's environment."""
    instance = operator_instance()
    return {INSTANCE_LABEL: instance} if instance else {}


def _label_filter() -> dict[str, Any]:
    instance = operator_instance()
    return {INSTANCE_LABEL: instance if instance else kopf.ABSENT}


def retry_delay(retry: int) -> float:
    """Exponential backoff for kopf retries: base, 2x base, 4x base, ... capped."""
    return float(min(RETRY_BASE * (2 ** min(retry, 16)), RETRY_MAX))


# --- status -----------------------------------------------------------------------------------------


def _cond(status: dict[str, Any], type_: ConditionType) -> dict[str, Any] | None:
    return find_condition(status.get("conditions"), type_)


def _set(status: dict[str, Any], type_: ConditionType, value: bool | None, reason: str, message: str, gen: int) -> None:
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
        _set(
            status,
            ConditionType.INSTALLED,
            True,
            R_DETECTED,
            f"CRDs exist and the operator is Available{where}",
            generation,
        )
        return
    parts = []
    if not state.crd_installed:
        parts.append("missing CRDs: " + ", ".join(state.missing_crds))
    if not state.operator_installed:
        parts.append("no Available operator Deployment in any namespace")
    _set(status, ConditionType.INSTALLED, False, R_NOT_INSTALLED, "; ".join(parts), generation)


def same_version(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and str(a).removeprefix("v") == str(b).removeprefix("v")


def derive_ready(status: dict[str, Any], generation: int, desired_version: str | None) -> None:
    """Ready from the other conditions: helm applied this generation, nothing failed, the cluster shows it."""
    installed = _cond(status, ConditionType.INSTALLED)
    failed = _cond(status, ConditionType.FAILED)
    prog = _cond(status, ConditionType.PROGRESSING)
    is_installed = bool(installed) and (installed or {}).get("status") == "True"
    if failed and failed.get("status") == "True":
        _set(status, ConditionType.READY, False, str(failed["reason"]), str(failed.get("message") or ""), generation)
    elif prog is None or prog.get("observedGeneration") != generation:
        _set(status, ConditionType.READY, False, R_PENDING, f"generation {generation} not processed yet", generation)
    elif prog.get("status") == "True":
        _set(status, ConditionType.READY, False, str(prog["reason"]), str(prog.get("message") or ""), generation)
    elif prog.get("reason") == R_MANAGED_ELSEWHERE:
        reason = R_INSTALLED_EXTERNALLY if is_installed else R_NOT_INSTALLED
        _set(status, ConditionType.READY, is_installed, reason, str(prog.get("message") or ""), generation)
    elif not is_installed:
        message = str((installed or {}).get("message") or "not detected yet")
        _set(status, ConditionType.READY, False, R_NOT_INSTALLED, message, generation)
    elif desired_version and status.get("version") and not same_version(status.get("version"), desired_version):
        message = f"the cluster shows version {status.get('version')}, the spec asks for {desired_version}"
        _set(status, ConditionType.READY, False, R_VERSION_MISMATCH, message, generation)
    else:
        message = f"version {status.get('version') or desired_version} is installed"
        _set(status, ConditionType.READY, True, R_INSTALLED, message, generation)


def _desired_version(obj: k.JSON) -> str | None:
    try:
        spec = ProviderInstallSpec.model_validate(obj.get("spec") or {})
        return helm.effective_version(get_provider(spec.provider), spec)
    except (ValidationError, UnknownProvider):
        return None


async def update_status(kube: k.Kube, name: str, mutate: Mutator) -> k.JSON | None:
    """Read-modify-write of status with the object's resourceVersion as precondition (retried on conflict).

    The handler and the monitor daemon both write status; the precondition keeps either from
    overwriting the other's conditions. Returns the new status (None if the object is gone).
    """
    for _ in range(8):
        obj = await kube.get_or_none(RESOURCE, name)
        if obj is None:
            return None
        old = obj.get("status") or {}
        new = copy.deepcopy(old)
        mutate(new, obj)
        generation = int((obj.get("metadata") or {}).get("generation") or 0)
        derive_ready(new, generation, _desired_version(obj))
        if new == old:
            return new
        patch: k.JSON = {key: None for key in old if key not in new}
        patch.update(new)
        body = {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]}, "status": patch}
        try:
            await kube.merge_patch(RESOURCE, name, body, subresource="status", field_manager=FIELD_MANAGER)
        except k.Conflict:
            await asyncio.sleep(0.05)
            continue
        except k.NotFound:
            return None
        return new
    raise kopf.TemporaryError(f"could not update the status of ProviderInstall {name}: conflicts", delay=1)


def _event(obj: k.JSON, type_: str, reason: str, message: str) -> None:
    try:
        kopf.event(cast(kopf.Body, obj), type=type_, reason=reason, message=helm.trim(message, 1024))
    except LookupError:  # outside a kopf context (direct calls in tests)
        log.info("event %s %s: %s", type_, reason, message)


# --- the Kubernetes client ----------------------------------------------------------------------------


def _kube(memo: Any) -> k.Kube:
    kube: k.Kube = memo.providerinstall_kube
    return kube


async def providerinstall_startup(memo: kopf.Memo, **_: Any) -> None:
    memo.providerinstall_kube = await k.Kube.connect()


async def providerinstall_cleanup(memo: kopf.Memo, **_: Any) -> None:
    kube = getattr(memo, "providerinstall_kube", None)
    if kube is not None:
        await kube.close()


# --- create / update ----------------------------------------------------------------------------------


class _Invalid(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _parse(name: str, raw_spec: Any) -> tuple[Provider, ProviderInstallSpec]:
    try:
        spec = ProviderInstallSpec.model_validate(dict(raw_spec or {}))
    except ValidationError as exc:
        raise _Invalid(R_INVALID_SPEC, f"invalid spec: {exc}") from None
    if spec.provider != name:
        raise _Invalid(R_INVALID_SPEC, f"metadata.name ({name}) must equal spec.provider ({spec.provider})")
    try:
        provider = get_provider(spec.provider)
    except UnknownProvider as exc:
        raise _Invalid(R_UNKNOWN_PROVIDER, str(exc)) from None
    return provider, spec


async def _permanent_failure(kube: k.Kube, obj: k.JSON, reason: str, message: str) -> kopf.PermanentError:
    name = obj["metadata"]["name"]

    def mutate(status: dict[str, Any], current: k.JSON) -> None:
        gen = int(current["metadata"].get("generation") or 0)
        status["observedGeneration"] = gen
        _set(status, ConditionType.FAILED, True, reason, message, gen)
        _set(status, ConditionType.PROGRESSING, False, reason, message, gen)

    await update_status(kube, name, mutate)
    _event(obj, "Warning", reason, message)
    return kopf.PermanentError(message)


def _available(deployment: k.JSON) -> bool:
    conditions = (deployment.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Available" and c.get("status") == "True" for c in conditions)


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


async def _releases(steps: list[helm.ChartStep]) -> dict[tuple[str, str], helm.Release | None]:
    return {(s.release, s.namespace): await helm.find_release(s.release, s.namespace) for s in steps}


def _release_word(rel: helm.Release) -> str:
    return f"release {rel.name} in {rel.namespace} is {rel.status} (revision {rel.revision}, updated {rel.updated})"


async def reconcile(kube: k.Kube, obj: k.JSON, retry: int) -> None:
    """Brings the cluster to the spec with helm; raises kopf errors for kopf's retry machinery."""
    name = obj["metadata"]["name"]
    generation = int(obj["metadata"].get("generation") or 0)
    try:
        provider, spec = _parse(name, obj.get("spec"))
        steps = helm.plan(provider, spec, local_roots=helm.local_chart_roots())
    except _Invalid as exc:
        raise await _permanent_failure(kube, obj, exc.reason, exc.message) from None
    except (helm.ChartSourceError, ValueError) as exc:
        raise await _permanent_failure(kube, obj, R_CHART_SOURCE, str(exc)) from None
    version = helm.effective_version(provider, spec)
    namespace = helm.effective_namespace(provider, spec)

    try:
        releases = await _releases(steps)
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
                _set(status, ConditionType.FAILED, False, R_MANAGED_ELSEWHERE, "", generation)
                _set(status, ConditionType.PROGRESSING, False, R_MANAGED_ELSEWHERE, message, generation)

            await update_status(kube, name, managed_elsewhere)
            _event(obj, "Normal", R_MANAGED_ELSEWHERE, message)
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
                f"{_release_word(rel)} for {age / 60:.0f} minutes: the helm operation that started it seems to "
                f"have died. KubeFoundry will not touch it; recover it with `helm rollback {rel.name} -n "
                f"{rel.namespace}` or `helm uninstall {rel.name} -n {rel.namespace}`"
            )
        else:
            message = f"{_release_word(rel)}: another helm operation is in progress; waiting for it to end"

        waiting = _waiting_mutator(step, message, stuck, generation, namespace)
        await update_status(kube, name, waiting)
        _event(obj, "Warning", R_STUCK if stuck else R_IN_PROGRESS, message)
        raise kopf.TemporaryError(message, delay=PENDING_RECHECK * (4 if stuck else 1))

    upgrading = any(releases.values())
    reason = R_UPGRADING if upgrading else R_INSTALLING
    what = ", ".join(f"{s.release} ({s.chart} {s.version}) into {s.namespace}" for s in steps)
    start_message = f"helm upgrade --install {what}" + (f" (attempt {retry + 1})" if retry else "")

    def starting(status: dict[str, Any], current: k.JSON) -> None:
        status["namespace"] = namespace
        _set(status, ConditionType.PROGRESSING, True, reason, start_message, generation)

    await update_status(kube, name, starting)
    _event(obj, "Normal", reason, start_message)

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
            message = f"{_release_word(rel)}: {detail.strip()}; retrying with helm upgrade --install"
            _event(obj, "Warning", "ReleaseFailed", message)

            await update_status(kube, name, _step_mutator(step, StepAction.CHECK, StepOutcome.FAILED, message))
        try:
            result = await helm.upgrade_install(step)
        except helm.HelmError as exc:
            await _temporary_failure(kube, obj, step, action, R_HELM_UNAVAILABLE, exc.message)
            raise kopf.TemporaryError(exc.message, delay=retry_delay(retry)) from None
        if not result.ok:
            await _temporary_failure(kube, obj, step, action, R_HELM_FAILED, result.message)
            raise kopf.TemporaryError(f"helm failed: {result.message}", delay=retry_delay(retry))

        await update_status(kube, name, _step_mutator(step, action, StepOutcome.SUCCEEDED, result.message))

    state = await detect_installation(kube, provider)
    done = f"helm applied {what}"

    def applied(status: dict[str, Any], current: k.JSON) -> None:
        status["observedGeneration"] = generation
        apply_detection(status, state, generation)
        _set(status, ConditionType.FAILED, False, R_SUCCEEDED, done, generation)
        if state.installed and same_version(state.version, version):
            _set(status, ConditionType.PROGRESSING, False, R_APPLIED, done, generation)
        else:
            message = f"{done}; waiting for the operator Deployment to become Available"
            _set(status, ConditionType.PROGRESSING, True, R_WAITING_FOR_OPERATOR, message, generation)

    await update_status(kube, name, applied)
    _event(obj, "Normal", "HelmSucceeded", done)


def _step_mutator(step: helm.ChartStep, action: StepAction, outcome: StepOutcome, message: str) -> Mutator:
    def mutate(status: dict[str, Any], current: k.JSON) -> None:
        add_step(status, step, action, outcome, message)

    return mutate


def _waiting_mutator(step: helm.ChartStep, message: str, stuck: bool, generation: int, namespace: str) -> Mutator:
    def mutate(status: dict[str, Any], current: k.JSON) -> None:
        status["observedGeneration"] = generation
        status["namespace"] = namespace
        add_step(status, step, StepAction.CHECK, StepOutcome.WAITING, message)
        _set(status, ConditionType.FAILED, stuck, R_STUCK if stuck else R_IN_PROGRESS, message, generation)
        _set(status, ConditionType.PROGRESSING, True, R_IN_PROGRESS, message, generation)

    return mutate


async def _temporary_failure(
    kube: k.Kube, obj: k.JSON, step: helm.ChartStep | None, action: StepAction, reason: str, message: str
) -> None:
    name = obj["metadata"]["name"]
    generation = int(obj["metadata"].get("generation") or 0)
    text = f"{message} (retrying with backoff)"

    def mutate(status: dict[str, Any], current: k.JSON) -> None:
        status["observedGeneration"] = generation
        if step is not None:
            add_step(status, step, action, StepOutcome.FAILED, message)
        _set(status, ConditionType.FAILED, True, reason, text, generation)
        _set(status, ConditionType.PROGRESSING, False, reason, text, generation)

    await update_status(kube, name, mutate)
    _event(obj, "Warning", reason, message)


async def providerinstall_apply(body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
    await reconcile(_kube(memo), dict(body), retry)


# --- delete -------------------------------------------------------------------------------------------


async def uninstall(kube: k.Kube, obj: k.JSON, retry: int) -> None:
    name = obj["metadata"]["name"]
    generation = int(obj["metadata"].get("generation") or 0)
    try:
        provider, spec = _parse(name, obj.get("spec"))
    except _Invalid:
        return  # nothing can have been installed from an invalid spec
    version = helm.effective_version(provider, spec)

    def record(action: StepAction, outcome: StepOutcome, message: str, chart: str, release: str, ns: str) -> Any:
        def mutate(status: dict[str, Any], current: k.JSON) -> None:
            add_step(
                status, None, action, outcome, message, chart=chart, release=release, namespace=ns, version=version
            )

        return update_status(kube, name, mutate)

    def progressing(status: dict[str, Any], current: k.JSON) -> None:
        _set(status, ConditionType.PROGRESSING, True, R_UNINSTALLING, "helm uninstall", generation)

    await update_status(kube, name, progressing)
    for chart in reversed(helm.all_charts(provider)):
        ns = helm.chart_namespace(provider, spec, chart)
        try:
            rel = await helm.find_release(chart.release, ns)
            if rel is None:
                continue
            if rel.state == helm.ReleaseState.IN_PROGRESS:
                message = f"{_release_word(rel)}: another helm operation is in progress; waiting for it to end"
                await record(StepAction.UNINSTALL, StepOutcome.WAITING, message, chart.chart, chart.release, ns)
                _event(obj, "Warning", R_IN_PROGRESS, message)
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
                    _event(obj, "Normal", "CrdsKept", message)
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
        _event(obj, "Normal", "Uninstalled", result.message)

    if spec.removeCrdsOnDelete:
        await _delete_crds(kube, obj, provider, spec, record)
    else:
        _event(obj, "Normal", "CrdsKept", f"{provider.name}'s CRDs are kept (spec.removeCrdsOnDelete is false)")


async def _delete_crds(kube: k.Kube, obj: k.JSON, provider: Provider, spec: ProviderInstallSpec, record: Any) -> None:
    names = set(provider.install_spec().crd_names)
    try:
        for step in helm.plan(provider, spec, local_roots=helm.local_chart_roots()):
            names.update(await helm.chart_crd_names(step))
    except (helm.HelmError, helm.ChartSourceError, ValueError) as exc:
        log.warning("listing the charts' CRDs failed (deleting the provider's known CRDs only): %s", exc)
    for crd in sorted(names):
        if await kube.delete(k.CRDS, crd) is not None:
            await record(StepAction.DELETE_CRDS, StepOutcome.SUCCEEDED, f"deleted CRD {crd}", "", crd, "")
    _event(obj, "Normal", "CrdsDeleted", f"deleted {provider.name}'s CRDs: {', '.join(sorted(names))}")


async def _uninstall_failed(kube: k.Kube, obj: k.JSON, message: str) -> None:
    generation = int(obj["metadata"].get("generation") or 0)

    def mutate(status: dict[str, Any], current: k.JSON) -> None:
        _set(status, ConditionType.FAILED, True, R_UNINSTALL_FAILED, f"{message} (retrying with backoff)", generation)

    await update_status(kube, obj["metadata"]["name"], mutate)
    _event(obj, "Warning", R_UNINSTALL_FAILED, message)


async def providerinstall_delete(body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
    await uninstall(_kube(memo), dict(body), retry)


# --- keeping the status truthful ----------------------------------------------------------------------


async def observe(kube: k.Kube, name: str) -> k.JSON | None:
    """One look at the cluster: detection into status; WaitingForOperator becomes Applied once it shows."""
    obj = await kube.get_or_none(RESOURCE, name)
    if obj is None or obj["metadata"].get("deletionTimestamp"):
        return None
    try:
        provider, spec = _parse(name, obj.get("spec"))
    except _Invalid:
        return obj.get("status") or {}
    state = await detect_installation(kube, provider)
    version = helm.effective_version(provider, spec)
    before = bool((obj.get("status") or {}).get("installed"))

    def mutate(status: dict[str, Any], current: k.JSON) -> None:
        gen = int(current["metadata"].get("generation") or 0)
        apply_detection(status, state, gen)
        prog = _cond(status, ConditionType.PROGRESSING)
        if (
            prog is not None
            and prog.get("reason") == R_WAITING_FOR_OPERATOR
            and prog.get("observedGeneration") == gen
            and state.installed
            and same_version(state.version, version)
        ):
            message = f"{provider.name} {state.version} is installed and its operator is Available"
            _set(status, ConditionType.PROGRESSING, False, R_APPLIED, message, gen)

    status = await update_status(kube, name, mutate)
    if status is not None and bool(status.get("installed")) != before:
        if status.get("installed"):
            _event(obj, "Normal", R_INSTALLED, f"{provider.name} is installed (version {state.version or 'unknown'})")
        else:
            installed_cond = _cond(status, ConditionType.INSTALLED) or {}
            message = f"{provider.name} is no longer installed: {installed_cond.get('message') or 'not detected'}"
            _event(obj, "Warning", R_NOT_INSTALLED, message)
    return status


async def providerinstall_monitor(name: str, memo: kopf.Memo, stopped: kopf.DaemonStopped, **_: Any) -> None:
    kube = _kube(memo)
    while not stopped:
        interval = MONITOR_FAST
        try:
            status = await observe(kube, name)
            if status is None:
                return
            ready = _cond(status, ConditionType.READY)
            if ready is not None and ready.get("status") == "True":
                interval = MONITOR_SLOW
        except (k.KubeError, k.ClusterUnavailable, kopf.TemporaryError) as exc:
            log.warning("ProviderInstall %s: observing the installation failed: %s", name, exc)
            interval = MONITOR_SLOW
        await stopped.wait(interval)


# --- registration -------------------------------------------------------------------------------------

_registered: list[kopf.OperatorRegistry] = []


def register(registry: kopf.OperatorRegistry) -> None:
    """Registers the ProviderInstall handlers in `registry` (once per registry)."""
    if any(r is registry for r in _registered):
        return
    _registered.append(registry)
    labels = _label_filter()
    kopf.on.startup(registry=registry, id="providerinstall-startup")(providerinstall_startup)
    kopf.on.cleanup(registry=registry, id="providerinstall-cleanup")(providerinstall_cleanup)
    kopf.on.create(GROUP, VERSION, PLURAL, registry=registry, id="helm-apply", labels=labels)(providerinstall_apply)
    kopf.on.update(GROUP, VERSION, PLURAL, registry=registry, id="helm-apply", field="spec", labels=labels)(
        providerinstall_apply
    )
    kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry, id="helm-uninstall", labels=labels)(
        providerinstall_delete
    )
    kopf.daemon(
        GROUP, VERSION, PLURAL, registry=registry, id="install-monitor", cancellation_timeout=5.0, labels=labels
    )(providerinstall_monitor)


register(kopf.get_default_registry())


def main() -> None:
    """Runs only these handlers, cluster-wide (tests and development): python -m ...providerinstall_handlers."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    @kopf.on.startup(id="providerinstall-configure")
    def _configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        configure(settings)

    kopf.run(clusterwide=True, standalone=True)


if __name__ == "__main__":
    main()

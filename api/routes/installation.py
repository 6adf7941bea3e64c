"""The /installation endpoints: helm's availability, a provider's installation, and its ProviderInstall.

Installing, upgrading and uninstalling create, update and delete the cluster-scoped ProviderInstall
named after the provider; the operator does the helm work (kubefoundry.operator.installs.handlers).
The POSTs wait up to INSTALL_WAIT seconds for the outcome the operator reports in status, then answer
that the work is in progress (`success: true`; follow GET .../status). A helm failure within that time
is `success: false` with helm's own message (the operator keeps retrying with backoff).

Status is what the cluster shows (`detect_installation`), whoever installed the provider.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import os
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from aiohttp import web
from pydantic import Field, ValidationError

from kubefoundry.operator.models.common import API_VERSION, find_condition
from kubefoundry.operator.models.providerinstall import (
    KIND,
    R_MANAGED_ELSEWHERE,
    R_UNINSTALL_FAILED,
    RESOURCE,
    ConditionType,
    ProviderInstallSpec,
)
from kubefoundry.operator.providers import Provider, UnknownProvider, get_provider
from kubefoundry.operator.providers.detect import InstallationState, detect_installation
from kubefoundry.operator.runtime import helm
from kubefoundry.operator.runtime import kube as k
from kubefoundry.operator.runtime.instance import instance_labels

from .. import permissions
from ..body import read_json
from ..context import context_of
from ..endpoints import EndpointTable, Inputs, json_response
from ..errors import ApiError, Code, field_error, from_pydantic
from ..schemas import Response

# Where POST install takes the charts from when the body names no chartSource (and what GET commands shows
# when there is no ProviderInstall): an oci:// reference, an https repository or a local directory. Unset:
# the provider's official repository. `make dev` points it at the local stand-in chart.
DEFAULT_SOURCE_ENV = "KUBEFOUNDRY_DEFAULT_CHART_SOURCE"
INSTALL_WAIT = float(os.environ.get("KUBEFOUNDRY_API_INSTALL_WAIT_SECONDS", "") or 20.0)
POLL = 0.5
TAG = "installation"

table = EndpointTable()


# --- shapes -------------------------------------------------------------------------------------------


class HelmStatus(Response):
    available: Annotated[bool, Field(description="Whether the API server can run helm.")]
    version: Annotated[str | None, Field(description="helm's version, e.g. v3.19.0.")]


class InstallationStatus(Response):
    installed: Annotated[bool, Field(description="CRDs exist and the operator Deployment is Available.")]
    crdInstalled: Annotated[bool, Field(description="Every CRD the provider needs exists.")]
    operatorInstalled: Annotated[bool, Field(description="An operator Deployment is Available (any namespace).")]
    version: Annotated[str | None, Field(description="The operator's version, when it can be told.")]


class InstallationCommands(Response):
    commands: Annotated[
        list[str],
        Field(description="The helm commands that do what the operator does, generated from the same source."),
    ]


class InstallationResult(Response):
    success: Annotated[bool, Field(description="False when helm failed (the operator keeps retrying).")]
    message: Annotated[str, Field(description="The outcome, or that the work is still in progress.")]


class ProviderPath(Inputs):
    id: Annotated[str, Field(description="Provider id (dynamo, ...).", min_length=1, max_length=253)]


InstallationHandler = Callable[[web.Request, ProviderPath], Awaitable[web.Response]]


# --- helpers ------------------------------------------------------------------------------------------


def _provider(path: ProviderPath) -> Provider:
    try:
        return get_provider(path.id)
    except UnknownProvider as exc:
        raise ApiError(Code.NOT_FOUND, str(exc)) from None


async def _optional_body(request: web.Request, provider: Provider) -> dict[str, Any]:
    """The spec fields an install/upgrade body sets (validated as a ProviderInstall spec), or {}."""
    if not request.body_exists:
        return {}
    data = await read_json(request)
    if "provider" in data:
        raise field_error("provider", "is taken from the path", "extra_forbidden")
    try:
        spec = ProviderInstallSpec.model_validate({"provider": provider.id, **data})
    except ValidationError as exc:
        raise from_pydantic(exc) from None
    return dict(spec.model_dump(mode="json", include=set(data), exclude_none=True))


def default_chart_source() -> dict[str, str] | None:
    raw = os.environ.get(DEFAULT_SOURCE_ENV, "").strip()
    if raw.startswith("oci://"):
        return {"oci": raw}
    if raw.startswith("https://"):
        return {"repository": raw}
    if raw.startswith("/"):
        return {"localPath": raw}
    return None


def _default_spec(provider: Provider) -> dict[str, Any]:
    spec: dict[str, Any] = {"provider": provider.id}
    source = default_chart_source()
    if source is not None:
        spec["chartSource"] = source
    return spec


def _status_view(state: InstallationState) -> dict[str, Any]:
    return {
        "installed": state.installed,
        "crdInstalled": state.crd_installed,
        "operatorInstalled": state.operator_installed,
        "version": state.version,
    }


def _result(success: bool, message: str) -> web.Response:
    return json_response({"success": success, "message": message})


def _validate_spec(spec: dict[str, Any]) -> None:
    try:
        ProviderInstallSpec.model_validate(spec)
    except ValidationError as exc:
        raise from_pydantic(exc, "spec.") from None


def _where(state: InstallationState) -> str:
    parts = []
    if state.operator_namespace:
        parts.append(f"operator in namespace {state.operator_namespace}")
    if state.version:
        parts.append(f"version {state.version}")
    return f" ({', '.join(parts)})" if parts else ""


def _not_ours(provider: Provider, state: InstallationState, verb: str) -> str:
    return f"{provider.name} is installed{_where(state)}, but not by KubeFoundry; {verb} it the way it was installed"


def outcome(obj: k.JSON) -> tuple[bool, str] | None:
    """(success, message) from a ProviderInstall's status for its current generation; None: not done yet."""
    generation = (obj.get("metadata") or {}).get("generation")
    status = obj.get("status") or {}
    conditions = status.get("conditions") or []
    failed = find_condition(conditions, ConditionType.FAILED)
    if failed and failed.get("status") == "True" and failed.get("observedGeneration") == generation:
        return False, str(failed.get("message") or failed.get("reason") or "failed")
    ready = find_condition(conditions, ConditionType.READY)
    if ready and ready.get("status") == "True" and ready.get("observedGeneration") == generation:
        return True, str(ready.get("message") or "installed")
    prog = find_condition(conditions, ConditionType.PROGRESSING)
    if (
        prog
        and prog.get("reason") == R_MANAGED_ELSEWHERE
        and prog.get("status") == "False"
        and prog.get("observedGeneration") == generation
    ):
        return True, str(prog.get("message") or "")
    return None


def _progress(obj: k.JSON) -> str:
    prog = find_condition((obj.get("status") or {}).get("conditions"), ConditionType.PROGRESSING)
    return str(prog.get("message") or prog.get("reason")) if prog else "waiting for the operator"


async def _wait_for_outcome(kube: k.Kube, name: str, verb: str) -> web.Response:
    deadline = time.monotonic() + INSTALL_WAIT
    obj: k.JSON | None = None
    while True:
        obj = await kube.get_or_none(RESOURCE, name)
        if obj is None:
            return _result(False, f"ProviderInstall {name} disappeared while waiting for the {verb}")
        result = outcome(obj)
        if result is not None:
            return _result(*result)
        if time.monotonic() >= deadline:
            return _result(
                True,
                f"The {verb} of {name} is in progress ({_progress(obj)}); "
                f"follow GET /api/installation/providers/{name}/status",
            )
        await asyncio.sleep(POLL)


async def _write_spec(kube: k.Kube, name: str, changes: dict[str, Any]) -> None:
    """Replaces spec fields (values as a whole) with the object's resourceVersion as precondition.

    The whole object goes back (labels, annotations, finalizers untouched): a PUT replaces metadata too.
    """
    for _ in range(5):
        obj = await kube.get(RESOURCE, name)
        spec = copy.deepcopy(obj.get("spec") or {})
        spec.update(changes)
        if spec == obj.get("spec"):
            return
        _validate_spec(spec)
        body = {key: value for key, value in obj.items() if key != "status"}
        body["spec"] = spec
        try:
            await kube.replace(RESOURCE, body)
            return
        except k.Conflict:
            continue
    raise ApiError(Code.KUBERNETES_ERROR, f"ProviderInstall {name} kept changing while it was being updated")


# --- routes -------------------------------------------------------------------------------------------


class HelmStatusCache:
    """`helm version`, run once per process: helm does not change while the process runs. Concurrent
    requests share one run; a failure (helm missing, a timeout under load) is asked again after a while."""

    RETRY_FAILURE_AFTER = 30.0

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._answer: dict[str, Any] | None = None
        self._failed_at = 0.0

    async def get(self) -> dict[str, Any]:
        async with self._lock:
            fresh_failure = time.monotonic() - self._failed_at < self.RETRY_FAILURE_AFTER
            if self._answer is not None and (self._answer["available"] or fresh_failure):
                return self._answer
            try:
                found = await helm.version()
            except helm.HelmError:
                self._answer, self._failed_at = {"available": False, "version": None}, time.monotonic()
            else:
                self._answer = {"available": True, "version": found or None}
            return self._answer


HELM_STATUS = HelmStatusCache()


@table.route(
    "GET",
    "/installation/helm/status",
    operation_id="getHelmStatus",
    access=permissions.read_helm_status,
    summary="Whether helm can be run, and its version",
    tag=TAG,
    response=HelmStatus,
    description="Asked once per API process (helm does not change while it runs); a failure is asked again "
    f"after {HelmStatusCache.RETRY_FAILURE_AFTER:.0f} s.",
)
async def get_helm_status(request: web.Request) -> web.Response:
    return json_response(await HELM_STATUS.get())


@table.route(
    "GET",
    "/installation/providers/{id}/status",
    operation_id="getProviderInstallationStatus",
    access=permissions.read_installation,
    summary="Whether the provider is installed: its CRDs exist and its operator Deployment is Available",
    tag=TAG,
    response=InstallationStatus,
    path_model=ProviderPath,
    errors=(Code.NOT_FOUND, Code.FORBIDDEN, Code.CLUSTER_UNAVAILABLE),
    description="What the cluster shows, in any namespace, whoever installed the provider.",
)
async def get_installation_status(request: web.Request, path: ProviderPath) -> web.Response:
    provider = _provider(path)
    state = await context_of(request).installation(provider)
    return json_response(_status_view(state))


@table.route(
    "GET",
    "/installation/providers/{id}/commands",
    operation_id="getProviderInstallationCommands",
    # The commands carry the ProviderInstall's values, which may hold credentials.
    access=permissions.read_installation,
    summary="The helm commands that install the provider as the operator does",
    tag=TAG,
    response=InstallationCommands,
    path_model=ProviderPath,
    errors=(Code.NOT_FOUND, Code.CLUSTER_UNAVAILABLE),
    description="For the provider's ProviderInstall when it exists (its version, source, values), else the defaults.",
)
async def get_installation_commands(request: web.Request, path: ProviderPath) -> web.Response:
    provider = _provider(path)
    obj = await context_of(request).kube.get_or_none(RESOURCE, provider.id)
    spec = ProviderInstallSpec.model_validate(_default_spec(provider))
    if obj is not None:
        try:
            spec = ProviderInstallSpec.model_validate(obj.get("spec") or {})
        except ValidationError:
            pass  # an invalid stored spec: show the defaults
    return json_response({"commands": helm.commands_for(provider, spec)})


def _refreshes_installation(handler: InstallationHandler) -> InstallationHandler:
    """After an install, upgrade or uninstall the API's cached installation state is stale: drop it."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request, path: ProviderPath) -> web.Response:
        try:
            return await handler(request, path)
        finally:
            context_of(request).forget_installation(path.id)

    return wrapper


@table.route(
    "POST",
    "/installation/providers/{id}/install",
    operation_id="installProvider",
    access=permissions.install_provider,
    optional_body=True,
    summary="Install the provider (creates or updates its ProviderInstall) and report the outcome",
    tag=TAG,
    response=InstallationResult,
    path_model=ProviderPath,
    errors=(Code.NOT_FOUND, Code.VALIDATION_ERROR, Code.FORBIDDEN, Code.CLUSTER_UNAVAILABLE, Code.KUBERNETES_ERROR),
    description=(
        "Optional JSON body: version, chartSource (default: $KUBEFOUNDRY_DEFAULT_CHART_SOURCE, else the "
        "provider's official repository), namespace, values, removeCrdsOnDelete. Waits up to "
        f"{INSTALL_WAIT:.0f} s; then answers that the installation is in progress."
    ),
)
@_refreshes_installation
async def install_provider(request: web.Request, path: ProviderPath) -> web.Response:
    provider = _provider(path)
    changes = await _optional_body(request, provider)
    kube = context_of(request).kube
    existing = await kube.get_or_none(RESOURCE, provider.id)
    if existing is None:
        state = await detect_installation(kube, provider)
        if state.installed:
            return _result(
                True, f"{provider.name} is already installed{_where(state)}, not by KubeFoundry; nothing to do"
            )
        spec = {**_default_spec(provider), **changes}
        _validate_spec(spec)
        metadata = {"name": provider.id, "labels": instance_labels()}
        manifest = {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}
        try:
            await kube.create(RESOURCE, manifest)
        except k.KubeError as exc:
            if exc.status != 409:
                raise
            await _write_spec(kube, provider.id, changes)
    else:
        await _write_spec(kube, provider.id, changes)
    return await _wait_for_outcome(kube, provider.id, "installation")


@table.route(
    "POST",
    "/installation/providers/{id}/upgrade",
    operation_id="upgradeProvider",
    access=permissions.upgrade_provider,
    optional_body=True,
    summary="Upgrade the provider (updates its ProviderInstall's version) and report the outcome",
    tag=TAG,
    response=InstallationResult,
    path_model=ProviderPath,
    errors=(Code.NOT_FOUND, Code.VALIDATION_ERROR, Code.FORBIDDEN, Code.CLUSTER_UNAVAILABLE, Code.KUBERNETES_ERROR),
    description=(
        "Optional JSON body as for install; without a version, the version KubeFoundry targets. Only a provider "
        "installed through KubeFoundry can be upgraded here."
    ),
)
@_refreshes_installation
async def upgrade_provider(request: web.Request, path: ProviderPath) -> web.Response:
    provider = _provider(path)
    changes = await _optional_body(request, provider)
    kube = context_of(request).kube
    if await kube.get_or_none(RESOURCE, provider.id) is None:
        state = await detect_installation(kube, provider)
        if state.installed:
            return _result(False, _not_ours(provider, state, "upgrade"))
        return _result(False, f"{provider.name} is not installed; install it first")
    changes.setdefault("version", provider.install_spec().default_version)
    await _write_spec(kube, provider.id, changes)
    return await _wait_for_outcome(kube, provider.id, "upgrade")


@table.route(
    "POST",
    "/installation/providers/{id}/uninstall",
    operation_id="uninstallProvider",
    access=permissions.uninstall_provider,
    summary="Uninstall the provider (deletes its ProviderInstall; CRDs are kept) and report the outcome",
    tag=TAG,
    response=InstallationResult,
    path_model=ProviderPath,
    errors=(Code.NOT_FOUND, Code.FORBIDDEN, Code.CLUSTER_UNAVAILABLE, Code.KUBERNETES_ERROR),
)
@_refreshes_installation
async def uninstall_provider(request: web.Request, path: ProviderPath) -> web.Response:
    provider = _provider(path)
    kube = context_of(request).kube
    obj = await kube.get_or_none(RESOURCE, provider.id)
    if obj is None:
        state = await detect_installation(kube, provider)
        if state.installed:
            return _result(False, _not_ours(provider, state, "uninstall"))
        return _result(True, f"{provider.name} is not installed")
    keep = not bool((obj.get("spec") or {}).get("removeCrdsOnDelete"))
    await kube.delete(RESOURCE, provider.id)
    deadline = time.monotonic() + INSTALL_WAIT
    while time.monotonic() < deadline:
        current = await kube.get_or_none(RESOURCE, provider.id)
        if current is None:
            kept = "; its CRDs are kept" if keep else "; its CRDs were deleted"
            return _result(True, f"{provider.name} was uninstalled{kept}")
        failed = find_condition((current.get("status") or {}).get("conditions"), ConditionType.FAILED)
        if failed and failed.get("status") == "True" and failed.get("reason") == R_UNINSTALL_FAILED:
            return _result(False, str(failed.get("message") or "helm uninstall failed"))
        await asyncio.sleep(POLL)
    current = await kube.get_or_none(RESOURCE, provider.id)
    if current is None:
        return _result(True, f"{provider.name} was uninstalled")
    return _result(True, f"The uninstallation of {provider.name} is in progress ({_progress(current)})")

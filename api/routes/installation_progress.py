"""GET /installation/providers/{id}/providerinstall: the ProviderInstall's status, to follow an install live."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import Field

from kubefoundry.operator.models.common import Condition
from kubefoundry.operator.models.providerinstall import RESOURCE, Step

from .. import permissions
from ..context import context_of
from ..endpoints import EndpointTable, json_response
from ..errors import Code
from ..schemas import Response
from .installation import TAG, ProviderPath, _provider

table = EndpointTable()


class ProviderInstallSummary(Response):
    version: Annotated[str | None, Field(description="spec.version: the version KubeFoundry installs.")]
    namespace: Annotated[str | None, Field(description="spec.namespace.")]
    chartSource: Annotated[dict[str, str] | None, Field(description="spec.chartSource, when set.")]
    removeCrdsOnDelete: bool
    generation: Annotated[int, Field(description="metadata.generation (conditions say which one they reflect).")]
    deleting: Annotated[bool, Field(description="Deleted and being uninstalled (its finalizer runs helm).")]
    installed: Annotated[bool, Field(description="status.installed: the cluster shows the provider.")]
    statusVersion: Annotated[str | None, Field(description="status.version: the version found in the cluster.")]
    conditions: list[Condition]
    steps: Annotated[list[Step], Field(description="The last helm steps, oldest first.")]


class ProviderInstallView(Response):
    exists: Annotated[bool, Field(description="Whether KubeFoundry manages the provider through a ProviderInstall.")]
    providerInstall: ProviderInstallSummary | None


def summary(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    meta = obj.get("metadata") or {}
    return {
        "version": spec.get("version"),
        "namespace": spec.get("namespace"),
        "chartSource": spec.get("chartSource"),
        "removeCrdsOnDelete": bool(spec.get("removeCrdsOnDelete")),
        "generation": int(meta.get("generation") or 0),
        "deleting": bool(meta.get("deletionTimestamp")),
        "installed": bool(status.get("installed")),
        "statusVersion": status.get("version"),
        "conditions": list(status.get("conditions") or []),
        "steps": list(status.get("steps") or []),
    }


@table.route(
    "GET",
    "/installation/providers/{id}/providerinstall",
    operation_id="getProviderInstall",
    access=permissions.read_installation,
    summary="The provider's ProviderInstall (spec without values, status with helm's steps), if there is one",
    tag=TAG,
    response=ProviderInstallView,
    path_model=ProviderPath,
    errors=(Code.NOT_FOUND, Code.FORBIDDEN, Code.KUBERNETES_ERROR, Code.CLUSTER_UNAVAILABLE),
    description=(
        "What the operator reports while it installs, upgrades or uninstalls. `exists: false` with an installed "
        "provider (GET .../status) means it was installed without KubeFoundry. Helm values are left out: they "
        "may hold credentials."
    ),
)
async def get_provider_install(request: web.Request, path: ProviderPath) -> web.Response:
    provider = _provider(path)
    obj = await context_of(request).kube.get_or_none(RESOURCE, provider.id)
    return json_response({"exists": obj is not None, "providerInstall": summary(obj) if obj is not None else None})

"""GET and PUT /settings: the active provider, kept in the cluster by kubefoundry.operator.runtime.settings."""

from __future__ import annotations

from aiohttp import web

from kubefoundry.operator.providers import UnknownProvider, all_providers
from kubefoundry.operator.runtime import settings as kf_settings

from .. import permissions
from ..context import context_of
from ..endpoints import EndpointTable, json_response
from ..errors import Code, field_error
from ..schemas import SettingsResponse, SettingsUpdate

table = EndpointTable()


def _settings_body(active: str) -> dict[str, object]:
    return {
        "activeProviderId": active,
        "providers": [{"id": p.id, "name": p.name, "description": p.description} for p in all_providers()],
    }


@table.route(
    "GET",
    "/settings",
    operation_id="getSettings",
    summary="The active provider and every registered provider",
    tag="settings",
    response=SettingsResponse,
    errors=(Code.FORBIDDEN, Code.CLUSTER_UNAVAILABLE),
)
async def get_settings(request: web.Request) -> web.Response:
    return json_response(_settings_body(await context_of(request).active_provider_id()))


@table.route(
    "PUT",
    "/settings",
    operation_id="putSettings",
    access=permissions.change_settings,
    summary="Change the active provider (stored in a ConfigMap in the operator's namespace)",
    tag="settings",
    response=SettingsResponse,
    body_model=SettingsUpdate,
    errors=(Code.FORBIDDEN, Code.CLUSTER_UNAVAILABLE, Code.KUBERNETES_ERROR),
)
async def put_settings(request: web.Request, body: SettingsUpdate) -> web.Response:
    ctx = context_of(request)
    try:
        saved = await kf_settings.write_active_provider(ctx.kube, body.activeProviderId)
    except UnknownProvider as exc:
        raise field_error("activeProviderId", str(exc), "unknown_provider") from None
    ctx.last_provider_id = saved.active_provider_id
    return json_response(_settings_body(saved.active_provider_id))

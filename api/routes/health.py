"""GET /health and GET /cluster/status."""

from __future__ import annotations

import logging

from aiohttp import web

from kubefoundry.operator.providers import get_provider
from kubefoundry.operator.runtime import kube as k
from kubefoundry.operator.runtime import settings as kf_settings

from ..context import context_of
from ..endpoints import EndpointTable, json_response
from ..schemas import ClusterStatus, HealthResponse

log = logging.getLogger(__name__)
table = EndpointTable()


@table.route(
    "GET",
    "/health",
    operation_id="getHealth",
    public=True,
    summary="Liveness: the API process is serving",
    tag="health",
    response=HealthResponse,
)
async def get_health(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@table.route(
    "GET",
    "/cluster/status",
    operation_id="getClusterStatus",
    summary="Whether the Kubernetes API answers, the default namespace, the active provider and its installation",
    tag="cluster",
    response=ClusterStatus,
    description="Always 200: when the cluster cannot be reached, connected and providerInstalled are false.",
)
async def get_cluster_status(request: web.Request) -> web.Response:
    ctx = context_of(request)
    connected = await ctx.probe()
    provider_id = ctx.last_provider_id
    installed = False
    if connected:
        try:
            provider_id = await ctx.active_provider_id()
            installed = (await ctx.installation(get_provider(provider_id))).installed
        except k.ClusterUnavailable:
            connected = False
        except k.KubeError as exc:  # e.g. RBAC: report what we know rather than fail the status page
            log.warning("cluster status: %s", exc)
    return json_response(
        {
            "connected": connected,
            "namespace": kf_settings.default_deployment_namespace(),
            "providerId": provider_id,
            "providerInstalled": installed,
        }
    )

"""What a deployment's details page needs beyond GET /deployments/{name}: its Events, its stored object, scaling."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from aiohttp import web
from pydantic import Field

from kubefoundry.operator.models.common import CamelModel
from kubefoundry.operator.models.deployment import DISAGGREGATED_REPLICAS, KFD, KIND, Mode
from kubefoundry.operator.providers import UnknownProvider, get_provider
from kubefoundry.operator.runtime import kube as k

from .. import permissions, views
from ..context import ApiContext, context_of
from ..endpoints import EndpointTable, json_response, not_found
from ..errors import Code, field_error
from ..kube_events import event_rows
from ..schemas import CreateDeploymentResponse, Response
from .deployments import DeploymentPath, NamespaceQuery

table = EndpointTable()

MAX_EVENTS = 500


class EventsQuery(NamespaceQuery):
    limit: Annotated[int, Field(description="At most this many rows (newest first).", ge=1, le=MAX_EVENTS)] = 100


class InvolvedObject(Response):
    kind: str
    name: str


class EventRow(Response):
    type: Annotated[str, Field(description="Normal or Warning.")]
    reason: str
    message: str
    object: Annotated[InvolvedObject, Field(description="What the Event is about.")]
    count: Annotated[int, Field(description="How often it happened (repeats of equal Events added up).", ge=1)]
    firstSeen: Annotated[str, Field(description="RFC 3339, to the second.")]
    lastSeen: Annotated[str, Field(description="RFC 3339, to the second.")]
    source: Annotated[str, Field(description="The component that reported it (scheduler, kubefoundry, ...).")]


class DeploymentEvents(Response):
    events: list[EventRow]


class DeploymentManifest(Response):
    deployment: Annotated[
        dict[str, Any], Field(description="The KubeFoundryDeployment as stored (without metadata.managedFields).")
    ]


class ScaleRequest(CamelModel):
    replicas: Annotated[int, Field(description="Worker replicas (aggregated mode only).", ge=0, le=64)]


def _entry(ctx: ApiContext, namespace: str, name: str) -> dict[str, Any]:
    entry = ctx.deployments.get(namespace, name)
    if entry is None:
        raise not_found(f"Deployment {namespace}/{name} not found")
    return entry


@table.route(
    "GET",
    "/deployments/{name}/events",
    operation_id="getDeploymentEvents",
    access=permissions.read_deployment_events,
    summary="Kubernetes Events of a deployment, its provider resource and its pods, newest first",
    tag="deployments",
    response=DeploymentEvents,
    path_model=DeploymentPath,
    query_model=EventsQuery,
    errors=(Code.NOT_FOUND, Code.FORBIDDEN, Code.KUBERNETES_ERROR, Code.CLUSTER_UNAVAILABLE),
    description=(
        "Equal Events (same object, type, reason and message) are merged into one row: count added up, "
        "firstSeen and lastSeen widened. Pods are those of GET /api/deployments/{name}."
    ),
)
async def get_deployment_events(request: web.Request, path: DeploymentPath, query: EventsQuery) -> web.Response:
    ctx = context_of(request)
    await ctx.require(ctx.deployments, *ctx.pods.values())
    entry = _entry(ctx, query.namespace, path.name)
    wanted = {(KIND, path.name)}
    try:
        wanted.add((get_provider(entry["provider"]).resource.kind, path.name))  # named after the deployment
    except UnknownProvider:
        pass
    _, pods = ctx.pods_of(query.namespace, path.name, entry["provider"])
    wanted |= {("Pod", str(p["name"])) for p in pods}
    # One query per object name: the API server filters by field in its watch cache.
    listings = await asyncio.gather(
        *(
            ctx.kube.list(k.EVENTS, query.namespace, field_selector=f"involvedObject.name={name}")
            for name in sorted({name for _, name in wanted})
        )
    )
    events = [
        e
        for listing in listings
        for e in listing.get("items") or []
        if ((e.get("involvedObject") or {}).get("kind"), (e.get("involvedObject") or {}).get("name")) in wanted
    ]
    return json_response({"events": event_rows(events)[: query.limit]})


@table.route(
    "GET",
    "/deployments/{name}/manifest",
    operation_id="getDeploymentManifest",
    access=permissions.read_deployment_manifest,
    summary="The KubeFoundryDeployment as stored in the cluster (for its live YAML)",
    tag="deployments",
    response=DeploymentManifest,
    path_model=DeploymentPath,
    query_model=NamespaceQuery,
    errors=(Code.NOT_FOUND, Code.FORBIDDEN, Code.KUBERNETES_ERROR, Code.CLUSTER_UNAVAILABLE),
)
async def get_deployment_manifest(request: web.Request, path: DeploymentPath, query: NamespaceQuery) -> web.Response:
    ctx = context_of(request)
    try:
        obj = await ctx.kube.get(KFD, path.name, query.namespace)
    except k.NotFound:
        raise not_found(f"Deployment {query.namespace}/{path.name} not found") from None
    (obj.get("metadata") or {}).pop("managedFields", None)
    return json_response({"deployment": obj})


@table.route(
    "PUT",
    "/deployments/{name}/scale",
    operation_id="scaleDeployment",
    access=permissions.scale_deployment,
    summary="Set the worker replicas of an aggregated deployment (as kubectl scale does)",
    tag="deployments",
    response=CreateDeploymentResponse,
    path_model=DeploymentPath,
    query_model=NamespaceQuery,
    body_model=ScaleRequest,
    errors=(Code.NOT_FOUND, Code.FORBIDDEN, Code.KUBERNETES_ERROR, Code.CLUSTER_UNAVAILABLE),
    description=f"VALIDATION_ERROR on `replicas` for a disaggregated deployment: {DISAGGREGATED_REPLICAS}.",
)
async def scale_deployment(
    request: web.Request, path: DeploymentPath, query: NamespaceQuery, body: ScaleRequest
) -> web.Response:
    ctx = context_of(request)
    await ctx.require(ctx.deployments)
    if _entry(ctx, query.namespace, path.name)["summary"]["mode"] == Mode.DISAGGREGATED:
        raise field_error("replicas", DISAGGREGATED_REPLICAS, "disaggregated")
    try:
        patched = await ctx.kube.merge_patch(KFD, path.name, {"spec": {"replicas": body.replicas}}, query.namespace)
    except k.NotFound:
        raise not_found(f"Deployment {query.namespace}/{path.name} not found") from None
    ctx.deployments.upsert(patched)
    return json_response({"success": True, "deployment": views.deployment_summary(patched)})

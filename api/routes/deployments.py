"""The /deployments endpoints: KubeFoundryDeployments read from the cache, written to the API server."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import Field

from kubefoundry.operator.models.common import API_VERSION
from kubefoundry.operator.models.deployment import KFD, KIND
from kubefoundry.operator.providers import Provider, UnknownProvider, get_provider
from kubefoundry.operator.providers.detect import missing_crds
from kubefoundry.operator.providers.rendering import desired_child
from kubefoundry.operator.runtime import kube as k
from kubefoundry.operator.runtime.instance import instance_labels

from .. import permissions, views
from ..context import ApiContext, context_of
from ..endpoints import EndpointTable, Inputs, json_response, not_found
from ..errors import ApiError, Code, field_error
from ..schemas import (
    CreateDeploymentRequest,
    CreateDeploymentResponse,
    DeleteDeploymentResponse,
    DeploymentDetails,
    DeploymentList,
    DeploymentName,
    Namespace,
    PreviewResponse,
)

table = EndpointTable()


class ListQuery(Inputs):
    namespace: Annotated[Namespace | None, Field(description="Only this namespace (default: every namespace).")] = None


class NamespaceQuery(Inputs):
    namespace: Annotated[Namespace, Field(description="The deployment's namespace (required).")]


class DeploymentPath(Inputs):
    name: DeploymentName


# --- reads (from the cache) ---------------------------------------------------------------------------


@table.route(
    "GET",
    "/deployments",
    operation_id="listDeployments",
    access=permissions.list_deployments,
    summary="Every KubeFoundryDeployment, or those of one namespace",
    tag="deployments",
    response=DeploymentList,
    query_model=ListQuery,
    errors=(Code.FORBIDDEN, Code.CLUSTER_UNAVAILABLE),
)
async def list_deployments(request: web.Request, query: ListQuery) -> web.Response:
    ctx = context_of(request)
    await ctx.require(ctx.deployments)
    return json_response(ctx.deployment_list_body(query.namespace))


@table.route(
    "GET",
    "/deployments/{name}",
    operation_id="getDeployment",
    access=permissions.get_deployment,
    summary="One deployment with its pods",
    tag="deployments",
    response=DeploymentDetails,
    path_model=DeploymentPath,
    query_model=NamespaceQuery,
    errors=(Code.NOT_FOUND, Code.FORBIDDEN, Code.CLUSTER_UNAVAILABLE),
)
async def get_deployment(request: web.Request, path: DeploymentPath, query: NamespaceQuery) -> web.Response:
    ctx = context_of(request)
    await ctx.require(ctx.deployments, *ctx.pods.values())
    entry = ctx.deployments.get(query.namespace, path.name)
    if entry is None:
        raise not_found(f"Deployment {query.namespace}/{path.name} not found")
    _, pods = ctx.pods_of(query.namespace, path.name, entry["provider"])
    return json_response({**entry["summary"], "pods": pods})


# --- writes (to the API server) -------------------------------------------------------------------------


async def _provider_for(ctx: ApiContext, body: CreateDeploymentRequest) -> Provider:
    """The provider that will serve the deployment; checks the engine against it."""
    if body.provider is not None:
        try:
            provider = get_provider(body.provider)
        except UnknownProvider as exc:
            raise field_error("provider", str(exc), "unknown_provider") from None
    else:
        provider = get_provider(await ctx.active_provider_id())
    engines = provider.supported_engines()
    if str(body.engine) not in engines:
        raise field_error(
            "engine",
            f"provider {provider.id} does not support engine {body.engine} (supported: {', '.join(engines)})",
            "unsupported_engine",
        )
    return provider


def _manifest(body: CreateDeploymentRequest) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": body.name, "namespace": body.namespace}
    labels = instance_labels()  # for the operator instance this API runs next to, as ProviderInstalls are
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": body.spec_fields()}


_CREATE_ERRORS = (
    Code.NOT_FOUND,
    Code.ALREADY_EXISTS,
    Code.FORBIDDEN,
    Code.KUBERNETES_ERROR,
    Code.CLUSTER_UNAVAILABLE,
)


@table.route(
    "POST",
    "/deployments",
    operation_id="createDeployment",
    access=permissions.create_deployment,
    summary="Create a KubeFoundryDeployment",
    tag="deployments",
    response=CreateDeploymentResponse,
    status=201,
    body_model=CreateDeploymentRequest,
    errors=_CREATE_ERRORS,
    description=(
        "Validated against the same models the CRD is generated from, then by the API server. provider may "
        "be omitted: the operator records the active provider in status.provider (the response echoes it). "
        "NOT_FOUND: the namespace does not exist."
    ),
)
async def create_deployment(request: web.Request, body: CreateDeploymentRequest) -> web.Response:
    ctx = context_of(request)
    provider = await _provider_for(ctx, body)
    created = await ctx.kube.create(KFD, _manifest(body), body.namespace)
    ctx.deployments.upsert(created)
    summary = views.deployment_summary(created)
    if summary["provider"] is None:
        summary["provider"] = provider.id
    return json_response({"success": True, "deployment": summary}, status=201)


@table.route(
    "DELETE",
    "/deployments/{name}",
    operation_id="deleteDeployment",
    access=permissions.delete_deployment,
    summary="Delete a deployment (the operator and the garbage collector remove what it owns)",
    tag="deployments",
    response=DeleteDeploymentResponse,
    path_model=DeploymentPath,
    query_model=NamespaceQuery,
    errors=(Code.NOT_FOUND, Code.FORBIDDEN, Code.KUBERNETES_ERROR, Code.CLUSTER_UNAVAILABLE),
)
async def delete_deployment(request: web.Request, path: DeploymentPath, query: NamespaceQuery) -> web.Response:
    ctx = context_of(request)
    try:
        result = await ctx.kube.delete(KFD, path.name, query.namespace, missing_ok=False)
    except k.NotFound:
        raise not_found(f"Deployment {query.namespace}/{path.name} not found") from None
    result = result or {}
    meta = result.get("metadata") or {}
    if result.get("kind") == KIND and meta.get("finalizers"):
        ctx.deployments.upsert(result)  # still there until the operator finishes: Terminating
    else:
        ctx.deployments.remove(query.namespace, path.name, meta.get("resourceVersion"))
    return json_response({"success": True, "message": "Deployment deleted"})


@table.route(
    "POST",
    "/deployments/preview",
    operation_id="previewDeployment",
    access=permissions.create_deployment,
    summary="The resources a deployment would create, validated by a server-side dry run; nothing is stored",
    tag="deployments",
    response=PreviewResponse,
    body_model=CreateDeploymentRequest,
    errors=(Code.PROVIDER_NOT_INSTALLED, *_CREATE_ERRORS),
    description=(
        "Dry-runs the KubeFoundryDeployment and the provider resource the operator would apply. "
        "PROVIDER_NOT_INSTALLED (424): the provider's CRD is not served, so its resource cannot be validated."
    ),
)
async def preview_deployment(request: web.Request, body: CreateDeploymentRequest) -> web.Response:
    ctx = context_of(request)
    provider = await _provider_for(ctx, body)
    manifest = _manifest(body)
    resource = desired_child(provider, body.name, body.namespace, body)
    res = provider.resource
    # The provider first: when it is not installed, that is what the user has to fix.
    try:
        await ctx.kube.create(res, resource, body.namespace, dry_run=True)
    except k.NotFound:
        if await missing_crds(ctx.kube, (f"{res.plural}.{res.group}",)):
            raise ApiError(
                Code.PROVIDER_NOT_INSTALLED,
                f"Provider {provider.id} is not installed: the {res.kind} CRD ({res.plural}.{res.group}) is missing",
            ) from None
        raise
    await ctx.kube.create(KFD, manifest, body.namespace, dry_run=True)
    return json_response(
        {
            "provider": provider.id,
            "deployment": manifest,
            "resources": [
                {
                    "apiVersion": resource["apiVersion"],
                    "kind": resource["kind"],
                    "name": resource["metadata"]["name"],
                    "namespace": resource["metadata"].get("namespace", body.namespace),
                    "manifest": resource,
                }
            ],
        }
    )

"""GET /deployments/events: the deployment list, then its changes as they happen (server-sent events)."""

from __future__ import annotations

from typing import Annotated, Literal

from aiohttp import web
from pydantic import Field

from .. import permissions
from ..context import context_of
from ..endpoints import EndpointTable
from ..errors import Code
from ..schemas import DeploymentSummary, Response
from .deployments import ListQuery

table = EndpointTable()

HEARTBEAT_SECONDS = 15.0  # a comment line this often keeps proxies from closing an idle stream
RETRY_MS = 2000  # what an EventSource waits before reconnecting


class DeploymentRef(Response):
    namespace: str
    name: str


class SnapshotEvent(Response):
    """`event: snapshot`: every deployment the stream covers; replaces what the client held."""

    deployments: list[DeploymentSummary]


class UpsertEvent(Response):
    """`event: upsert`: a deployment was created or changed."""

    deployment: DeploymentSummary


class StreamStatusEvent(Response):
    """`event: status` (no id): the API lost or regained the Kubernetes API; changes made meanwhile follow."""

    connected: bool
    message: Annotated[str | None, Field(description="Why the cluster cannot be reached.")]


class DeploymentEvent(Response):
    """The `data` of one server-sent event, by its `event` field."""

    event: Literal["snapshot", "upsert", "delete", "status"]
    data: SnapshotEvent | UpsertEvent | DeploymentRef | StreamStatusEvent


@table.route(
    "GET",
    "/deployments/events",
    operation_id="streamDeploymentEvents",
    access=permissions.list_deployments,
    summary="Server-sent events: the deployment list, then every change of it",
    tag="deployments",
    response=DeploymentEvent,
    media_type="text/event-stream",
    query_model=ListQuery,
    errors=(Code.FORBIDDEN, Code.CLUSTER_UNAVAILABLE),
    description=(
        "A text/event-stream fed from the API's own watch of KubeFoundryDeployments (one watch whatever the "
        "number of clients). The first event is `snapshot` (`{deployments: [summary]}`, as GET /api/deployments), "
        "then `upsert` (`{deployment: summary}`) and `delete` (`{namespace, name}`) as deployments change, and "
        "`status` (`{connected, message}`, without id) when the API loses or regains the Kubernetes API. "
        "Every snapshot, upsert and delete has an id; a client that reconnects with the header Last-Event-ID "
        "gets exactly the changes it missed, or a new snapshot when they are no longer kept (or the server "
        "restarted). A comment line is sent every 15 s. A client too slow to read is disconnected and resumes "
        "the same way. Errors before the stream starts use the JSON envelope."
    ),
)
async def stream_deployment_events(request: web.Request, query: ListQuery) -> web.StreamResponse:
    ctx = context_of(request)
    await ctx.require(ctx.deployments)
    # Subscribed before the response starts: anything that fails here still gets the JSON envelope.
    sub = ctx.feed.subscribe(query.namespace, request.headers.get("Last-Event-ID"))
    try:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache, no-transform",
                "X-Accel-Buffering": "no",  # nginx and friends: do not hold events back
            }
        )
        await response.prepare(request)
        await response.write(f"retry: {RETRY_MS}\n\n".encode())
        while not sub.closed or sub.frames:
            batch = await sub.next_batch(HEARTBEAT_SECONDS)
            await response.write(b"".join(batch) if batch else b": keep-alive\n\n")
    except ConnectionResetError:
        pass  # the client left
    finally:
        ctx.feed.unsubscribe(sub)
    return response

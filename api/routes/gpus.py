"""GET /cluster/gpus: GPU capacity, allocation and models per node, from the node and pod caches."""

from __future__ import annotations

from aiohttp import web

from .. import permissions
from ..context import context_of
from ..endpoints import EndpointTable, json_response
from ..errors import Code
from ..gpus import gpu_report
from ..schemas import GpusResponse

table = EndpointTable()


@table.route(
    "GET",
    "/cluster/gpus",
    operation_id="getClusterGpus",
    access=permissions.read_gpus,
    summary="Per-node GPU capacity, allocatable, allocated and free, with the GPU model and memory",
    tag="cluster",
    response=GpusResponse,
    errors=(Code.FORBIDDEN, Code.CLUSTER_UNAVAILABLE),
)
async def get_cluster_gpus(request: web.Request) -> web.Response:
    ctx = context_of(request)
    await ctx.require(ctx.nodes, ctx.gpu_pods)
    return json_response(gpu_report(ctx.nodes.items(), ctx.gpu_pods.items()))

"""GET /openapi.json: the document built once at start-up by kubefoundry.api.openapi."""

from __future__ import annotations

from aiohttp import web

from ..endpoints import EndpointTable, json_response
from ..openapi import OpenApiDocument

table = EndpointTable()
OPENAPI = web.AppKey("openapi", bytes)


@table.route(
    "GET",
    "/openapi.json",
    operation_id="getOpenApi",
    public=True,
    summary="This OpenAPI 3.1 document",
    tag="docs",
    response=OpenApiDocument,
)
async def get_openapi(request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI])

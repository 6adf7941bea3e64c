"""GET /auth/whoami: whether the API checks tokens, and whom the caller's token belongs to."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import Field

from ..auth import AUTH
from ..endpoints import EndpointTable, json_response
from ..schemas import Response

table = EndpointTable()


class WhoAmI(Response):
    authEnabled: Annotated[bool, Field(description="Whether the API runs with --auth kubernetes.")]
    username: Annotated[str | None, Field(description="The token's user, as the cluster's TokenReview says.")]
    groups: Annotated[list[str], Field(description="The user's groups.")]


@table.route(
    "GET",
    "/auth/whoami",
    operation_id="whoAmI",
    summary="Whether a token is needed, and whose the caller's is",
    tag="auth",
    response=WhoAmI,
    description=(
        "Without --auth kubernetes: `{authEnabled: false, username: null}`. With it, UNAUTHENTICATED (401) "
        "until the caller sends a token the cluster accepts; a browser asks for one when it gets that."
    ),
)
async def who_am_i(request: web.Request) -> web.Response:
    auth = request.app.get(AUTH)
    if auth is None:
        return json_response({"authEnabled": False, "username": None, "groups": []})
    user = await auth.authenticate(request)  # answered from the cache the endpoint wrapper just filled
    return json_response({"authEnabled": True, "username": user.username, "groups": list(user.groups)})

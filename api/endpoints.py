"""Declaring an endpoint once: its route, its inputs, its response, its errors.

``EndpointTable.route`` registers a handler and records everything the OpenAPI document says about
it. The wrapper validates the path, query and body with the declared pydantic models before the
handler runs and passes them in as ``path=``, ``query=`` and ``body=``, so a handler cannot read an
input that is not documented, and the document cannot describe an input that is not checked.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from .auth import AUTH, Permission
from .body import read_json
from .errors import STATUS, TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, ApiError, Code, from_pydantic
from .server import BODY_METHODS, SAFE_METHODS

PREFIX = "/api"
Handler = Callable[..., Awaitable[web.StreamResponse]]
# The Kubernetes permissions an operation needs, from its validated inputs (path=, query=, body=).
Access = Callable[[dict[str, Any]], Sequence[Permission]]


class Inputs(BaseModel):
    """Base of query and path parameter models: unknown query parameters are ignored."""

    model_config = ConfigDict(extra="ignore")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # below PREFIX, aiohttp syntax ({name})
    operation_id: str
    summary: str
    tag: str
    response: type[BaseModel]
    status: int
    path_model: type[BaseModel] | None
    query_model: type[BaseModel] | None
    body_model: type[BaseModel] | None
    errors: tuple[Code, ...]
    description: str = ""
    public: bool = False  # served without authentication even with --auth kubernetes
    access: Access | None = None
    optional_body: bool = False  # the handler reads a JSON body when there is one (read_json)
    media_type: str = "application/json"  # of the success response (text/event-stream for streams)

    @property
    def full_path(self) -> str:
        return PREFIX + self.path

    @property
    def reads_body(self) -> bool:
        return self.body_model is not None or self.optional_body


def _validate(model: type[BaseModel], data: Mapping[str, Any]) -> BaseModel:
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise from_pydantic(exc) from None


def json_response(data: Any, status: int = 200) -> web.Response:
    body = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode()
    return web.Response(status=status, body=body, content_type="application/json")


class EndpointTable:
    def __init__(self) -> None:
        self.operations: list[Operation] = []
        self._handlers: list[tuple[Operation, Handler]] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        operation_id: str,
        summary: str,
        tag: str,
        response: type[BaseModel],
        status: int = 200,
        path_model: type[BaseModel] | None = None,
        query_model: type[BaseModel] | None = None,
        body_model: type[BaseModel] | None = None,
        errors: tuple[Code, ...] = (),
        description: str = "",
        public: bool = False,
        access: Access | None = None,
        optional_body: bool = False,
        media_type: str = "application/json",
    ) -> Callable[[Handler], Handler]:
        op = Operation(
            method=method,
            path=path,
            operation_id=operation_id,
            summary=summary,
            tag=tag,
            response=response,
            status=status,
            path_model=path_model,
            query_model=query_model,
            body_model=body_model,
            errors=errors,
            description=description,
            public=public,
            access=access,
            optional_body=optional_body,
            media_type=media_type,
        )

        def decorate(handler: Handler) -> Handler:
            @functools.wraps(handler)
            async def wrapper(request: web.Request) -> web.StreamResponse:
                auth = request.app.get(AUTH)
                # Who first (an unknown caller learns nothing, not even what is invalid), then inputs, then may.
                user = await auth.authenticate(request) if auth is not None and not op.public else None
                kwargs: dict[str, Any] = {}
                if op.path_model is not None:
                    kwargs["path"] = _validate(op.path_model, request.match_info)
                if op.query_model is not None:
                    kwargs["query"] = _validate(op.query_model, request.query)
                if op.body_model is not None:
                    body = await read_json(request)
                    try:
                        # Strict JSON validation: 0 is not a boolean and "3" not an integer, as for the API server.
                        kwargs["body"] = op.body_model.model_validate_json(json.dumps(body), strict=True)
                    except ValidationError as exc:
                        raise from_pydantic(exc) from None
                if auth is not None and user is not None and op.access is not None:
                    await auth.authorize(user, op.access(kwargs))
                return await handler(request, **kwargs)

            self.operations.append(op)
            self._handlers.append((op, wrapper))
            return wrapper

        return decorate

    def register(self, app: web.Application) -> None:
        for op, handler in self._handlers:
            app.router.add_route(op.method, op.full_path, handler, name=op.operation_id)


def all_errors(op: Operation, *, authenticated: bool = False) -> tuple[tuple[Code, int], ...]:
    """Every (code, status) an operation can answer with: its own, those its inputs and method imply
    (server.py's request guard), and, when the server checks callers (`authenticated`), those of
    authentication and authorization."""
    errors: list[tuple[Code, int]] = [(code, STATUS[code]) for code in op.errors]
    if authenticated and not op.public:
        errors += [(Code.UNAUTHENTICATED, 401), (Code.FORBIDDEN, 403)]
    if op.method not in SAFE_METHODS:
        errors.append((Code.FORBIDDEN, 403))  # a browser origin that is not allowed
    if op.path_model or op.query_model or op.reads_body:
        errors.append((Code.VALIDATION_ERROR, 400))
    if op.reads_body:
        errors.append((Code.VALIDATION_ERROR, TOO_LARGE))
    if op.method in BODY_METHODS:
        errors.append((Code.VALIDATION_ERROR, UNSUPPORTED_MEDIA_TYPE))
    errors.append((Code.INTERNAL_ERROR, 500))
    return tuple(dict.fromkeys(errors))


def not_found(message: str) -> ApiError:
    return ApiError(Code.NOT_FOUND, message)

"""HTTP concerns below the routes: the JSON body reader (type, size, syntax) and CORS."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .errors import ApiError, Code

MAX_BODY_BYTES = 1024 * 1024
MAX_BODY_KEY = web.AppKey("max_body_bytes", int)

# Browsers running a development UI (vite, next, ...) on this machine.
LOCALHOST_ORIGIN = re.compile(r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$")
CORS_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
CORS_HEADERS = "Content-Type, Authorization"
# Headers of our errors a browser client needs to read (401's challenge, 503's retry hint, 405's methods).
CORS_EXPOSED_HEADERS = "WWW-Authenticate, Retry-After, Allow"


async def read_json(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object, or the documented error (415, 413, 400 INVALID_JSON)."""
    if request.content_type != "application/json":
        raise ApiError(
            Code.UNSUPPORTED_MEDIA_TYPE,
            f"The request body must be application/json, not {request.content_type or 'missing'}",
        )
    limit = request.app.get(MAX_BODY_KEY, MAX_BODY_BYTES)  # aiohttp enforces it too while reading
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(Code.PAYLOAD_TOO_LARGE, f"The request body exceeds {limit} bytes")
    raw = await request.read()  # raises HTTPRequestEntityTooLarge for chunked bodies over the limit
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ApiError(Code.INVALID_JSON, f"The request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(Code.INVALID_JSON, "The request body must be a JSON object")
    return data


@dataclass(frozen=True)
class CorsPolicy:
    """Which browser origins may call the API. Same-origin requests need no CORS headers."""

    origins: frozenset[str] = frozenset()
    allow_localhost: bool = True

    @classmethod
    def from_list(cls, origins: Sequence[str] | None, *, allow_localhost: bool = True) -> CorsPolicy:
        return cls(frozenset(o.strip().rstrip("/") for o in origins or () if o.strip()), allow_localhost)

    def allows(self, origin: str) -> bool:
        return (
            "*" in self.origins
            or origin in self.origins
            or (self.allow_localhost and bool(LOCALHOST_ORIGIN.match(origin)))
        )


def cors_middleware(policy: CorsPolicy) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        allowed = origin is not None and policy.allows(origin)
        preflight = request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
        if preflight and origin is not None:
            response: web.StreamResponse = web.Response(status=204)
            if allowed:
                response.headers["Access-Control-Allow-Methods"] = CORS_METHODS
                response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
                response.headers["Access-Control-Max-Age"] = "600"
        else:
            response = await handler(request)
        if allowed and origin is not None:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = CORS_EXPOSED_HEADERS
            response.headers["Vary"] = "Origin"
        return response

    return middleware

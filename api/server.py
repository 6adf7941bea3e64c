"""HTTP concerns below the routes: the request guard (browser origins, host names, content type) and CORS.

The guard holds for every route by construction: it is a middleware, so a route added later is covered
without declaring anything. A state-changing request (any method but GET, HEAD and OPTIONS) is refused
when it comes from a browser origin that is not allowed (403 FORBIDDEN, ``origin_not_allowed``): the
server's own origin (whatever host name it was reached by), the configured CORS origins and, by default,
localhost development origins are allowed; requests without an ``Origin`` header (curl, scripts, other
servers) are not browser requests and pass. POST, PUT and PATCH must also say ``Content-Type:
application/json``, with or without a body (415): a browser sends that type cross-origin only after a
CORS preflight, which this server answers only for allowed origins, so a page cannot reach a handler with
a "simple" form or ``no-cors`` request. DELETE carries no body and no type; browsers always preflight it
cross-origin and always send ``Origin`` with it, so the origin check covers it.

When the server listens on loopback only (the default), it also answers only requests whose ``Host`` is
an IP address, ``localhost`` (or ``*.localhost``) or a configured name (403, ``host_not_allowed``): a page
that rebinds its own DNS name to 127.0.0.1 would otherwise be "same-origin" with this server.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .body import JSON_TYPE, unsupported_type
from .errors import ApiError, Code

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

# Browsers running a development UI (vite, next, ...) on this machine.
LOCALHOST_ORIGIN = re.compile(r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$")
CORS_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
CORS_HEADERS = "Content-Type, Authorization"
# Headers of our errors a browser client needs to read (401's challenge, 503's retry hint, 405's methods).
CORS_EXPOSED_HEADERS = "WWW-Authenticate, Retry-After, Allow"


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


def _authority(value: str) -> str:
    """host[:port] in lower case, without a default port (browsers leave it out of Origin)."""
    value = value.strip().lower()
    for default in (":80", ":443"):
        if value.endswith(default):
            return value[: -len(default)]
    return value


def same_origin(request: web.Request, origin: str) -> bool:
    """Whether `origin` is this server as the client reached it (its Host header). The scheme is not
    compared: behind a TLS-terminating proxy the browser says https while this server sees http."""
    _, sep, authority = origin.partition("://")
    return bool(sep) and _authority(authority) == _authority(request.host)


def _hostname(host_header: str) -> str:
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


@dataclass(frozen=True)
class HostPolicy:
    """Which Host names a loopback-only server answers: IP addresses, localhost and configured names."""

    names: frozenset[str] = frozenset()

    @classmethod
    def from_list(cls, names: Iterable[str]) -> HostPolicy:
        return cls(frozenset(n.strip().lower() for n in names if n.strip()))

    def allows(self, host_header: str) -> bool:
        name = _hostname(host_header)
        if "*" in self.names or name in self.names or name == "localhost" or name.endswith(".localhost"):
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True


def guard_middleware(cors: CorsPolicy, hosts: HostPolicy | None) -> Any:
    """Refuses what a web page could send behind the user's back (see the module docstring)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        if hosts is not None and not hosts.allows(request.host):
            raise ApiError(
                Code.FORBIDDEN,
                f"This server does not answer requests for host {request.host!r} (start it with --allowed-hosts)",
                {"reason": "host_not_allowed", "host": request.host},
            )
        # Unknown routes and methods get their 404/405 whatever they carry.
        if request.method not in SAFE_METHODS and request.match_info.http_exception is None:
            origin = request.headers.get("Origin")
            if origin is not None and not (same_origin(request, origin) or cors.allows(origin)):
                raise ApiError(
                    Code.FORBIDDEN,
                    f"Requests from the web page at {origin} may not change anything here "
                    "(allow the origin with --cors-origins)",
                    {"reason": "origin_not_allowed", "origin": origin},
                )
            if request.method in BODY_METHODS and request.content_type != JSON_TYPE:
                raise unsupported_type(request)
        response: web.StreamResponse = await handler(request)
        return response

    return middleware


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

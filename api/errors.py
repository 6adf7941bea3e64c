"""The one error envelope of the REST API, and how failures become it.

Every error response, whatever produced it (a handler, the router, the body reader, the Kubernetes
API server), is JSON ``{"error": <message>, "code": <CODE>, "details": <object>}`` with the status
below. ``details`` is always an object: ``{}`` when there is nothing to add; per-field problems under
``fields`` (``[{field, message, type}]``); what was wrong with a request body under ``reason`` (with
more keys, e.g. ``position``). Nothing else is ever sent for an error: no HTML, no text, no stack trace.

=========================  ======  =============================================================
code                       status  when
=========================  ======  =============================================================
VALIDATION_ERROR           400     a body field, query or path parameter is invalid (``details.fields``,
                                   from the same pydantic models the CRD is generated from), an unknown
                                   provider id, an engine the provider does not support, a missing
                                   required ``namespace``; the API server's own validation (HTTP 422:
                                   its ``causes`` become ``details.fields``); a body that is not JSON
                                   (``reason: invalid_json`` with ``position``, ``line``, ``column``),
                                   not a JSON object (``not_an_object``), not decodable
                                   (``invalid_content_encoding``) or cut short (``incomplete_body``)
VALIDATION_ERROR           413     the body is larger than the server's limit, 1 MiB by default
                                   (``reason: too_large``, ``limit``)
VALIDATION_ERROR           415     a state-changing request whose body is not ``application/json``
                                   (``reason: unsupported_media_type``), or a ``Content-Encoding``
                                   other than gzip, deflate and identity
                                   (``unsupported_content_encoding``; ``Accept-Encoding`` names them)
UNAUTHENTICATED            401     with ``--auth kubernetes``: no bearer token, or one the cluster does
                                   not accept (``WWW-Authenticate: Bearer``)
FORBIDDEN                  403     with ``--auth kubernetes``: the caller may not do this in Kubernetes
                                   RBAC (the message names the verb, resource and namespace); always:
                                   the API server refused the API's own service account (HTTP 403), or
                                   a state-changing request came from a browser origin that is not
                                   allowed (``reason: origin_not_allowed``)
NOT_FOUND                  404     no such route, deployment or namespace
METHOD_NOT_ALLOWED         405     the route exists but not with this method (``Allow`` header set)
ALREADY_EXISTS             409     a deployment with this name exists in the namespace
PROVIDER_NOT_INSTALLED     424     the provider's CRDs are missing, so its resource cannot be
                                   rendered and validated (``POST /deployments/preview``)
INTERNAL_ERROR             500     a bug in the API server (logged; the response says nothing more)
KUBERNETES_ERROR           502     the API server answered with an unexpected error (5xx, 429, ...)
CLUSTER_UNAVAILABLE        503     the Kubernetes API cannot be reached, or the caches have not
                                   synced with it yet; the API keeps retrying and recovers by itself
=========================  ======  =============================================================
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from kubefoundry.operator.runtime import kube as k

log = logging.getLogger(__name__)

Details = dict[str, Any]


class Code(StrEnum):
    VALIDATION_ERROR = "VALIDATION_ERROR"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    PROVIDER_NOT_INSTALLED = "PROVIDER_NOT_INSTALLED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    KUBERNETES_ERROR = "KUBERNETES_ERROR"
    CLUSTER_UNAVAILABLE = "CLUSTER_UNAVAILABLE"


# Each code's usual status; a request body can also be refused with 413 or 415 (see BODY_STATUSES).
STATUS: dict[Code, int] = {
    Code.VALIDATION_ERROR: 400,
    Code.UNAUTHENTICATED: 401,
    Code.FORBIDDEN: 403,
    Code.NOT_FOUND: 404,
    Code.METHOD_NOT_ALLOWED: 405,
    Code.ALREADY_EXISTS: 409,
    Code.PROVIDER_NOT_INSTALLED: 424,
    Code.INTERNAL_ERROR: 500,
    Code.KUBERNETES_ERROR: 502,
    Code.CLUSTER_UNAVAILABLE: 503,
}
TOO_LARGE = 413
UNSUPPORTED_MEDIA_TYPE = 415
# The statuses of a refused request body besides 400, all with code VALIDATION_ERROR.
BODY_STATUSES: dict[int, str] = {
    TOO_LARGE: "The body exceeds the size limit (details.reason: too_large).",
    UNSUPPORTED_MEDIA_TYPE: (
        "The body is not application/json, or its Content-Encoding is not gzip, deflate or identity "
        "(details.reason: unsupported_media_type, unsupported_content_encoding)."
    ),
}

# What each code means, for the OpenAPI document.
DESCRIPTIONS: dict[Code, str] = {
    Code.VALIDATION_ERROR: (
        "A field, query or path parameter is invalid (details.fields lists each), or the body is not a JSON "
        "object (details.reason says why)."
    ),
    Code.UNAUTHENTICATED: "No bearer token, or one the cluster does not accept (only with --auth kubernetes).",
    Code.FORBIDDEN: (
        "Kubernetes RBAC refused the request (the caller's with --auth kubernetes, or the API's own), or a "
        "browser origin that is not allowed sent a state-changing request."
    ),
    Code.NOT_FOUND: "No such route, deployment or namespace.",
    Code.METHOD_NOT_ALLOWED: "The route does not accept this method.",
    Code.ALREADY_EXISTS: "A deployment with this name already exists in the namespace.",
    Code.PROVIDER_NOT_INSTALLED: "The provider's CustomResourceDefinitions are not installed.",
    Code.INTERNAL_ERROR: "A bug in the API server.",
    Code.KUBERNETES_ERROR: "The Kubernetes API server answered with an unexpected error.",
    Code.CLUSTER_UNAVAILABLE: "The Kubernetes API cannot be reached (the API retries and recovers by itself).",
}


class ApiError(Exception):
    """Raised anywhere in a handler; the error middleware turns it into the envelope."""

    def __init__(
        self,
        code: Code,
        message: str,
        details: Mapping[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        *,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: Details = dict(details or {})
        self.headers = headers or {}
        self.status = status or STATUS[code]


class ClientGone(Exception):
    """The client closed the connection before its request arrived: there is nobody left to answer."""


def error_response(err: ApiError) -> web.Response:
    body = {"error": err.message, "code": str(err.code), "details": err.details}
    return web.Response(
        status=err.status,
        body=json.dumps(body).encode(),
        content_type="application/json",
        headers=err.headers,
    )


def validation_error(message: str, fields: Sequence[Mapping[str, Any]]) -> ApiError:
    return ApiError(Code.VALIDATION_ERROR, message, {"fields": [dict(f) for f in fields]} if fields else {})


def field_error(field: str, message: str, type_: str = "value_error") -> ApiError:
    return validation_error(f"{field}: {message}", [{"field": field, "message": message, "type": type_}])


def body_error(
    message: str, reason: str, *, status: int = 400, headers: dict[str, str] | None = None, **more: Any
) -> ApiError:
    """A request body refused as a whole: VALIDATION_ERROR with details.reason (and more keys)."""
    return ApiError(Code.VALIDATION_ERROR, message, {"reason": reason, **more}, headers, status=status)


def from_pydantic(exc: ValidationError, prefix: str = "") -> ApiError:
    """Per-field details from a pydantic error; the input values are left out (they may be large)."""
    fields = []
    for e in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(part) for part in e["loc"])
        field = f"{prefix}{loc}" if loc else prefix.rstrip(".") or "body"
        fields.append({"field": field, "message": str(e["msg"]), "type": str(e["type"])})
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in fields[:5])
    return validation_error(f"Validation failed: {summary}", fields)


def from_kube(exc: k.KubeError) -> ApiError:
    """Maps an API server error status to our code; its causes become details.fields."""
    causes = [
        {
            "field": str(c.get("field") or ""),
            "message": str(c.get("message") or ""),
            "type": str(c.get("reason") or ""),
        }
        for c in exc.causes
        if isinstance(c, dict)
    ]
    details: Details = {"fields": causes} if causes else {}
    message = exc.message or exc.reason or f"Kubernetes API error {exc.status}"
    if exc.status == 404:
        return ApiError(Code.NOT_FOUND, message, details)
    if exc.status == 409 and exc.reason == "AlreadyExists":
        return ApiError(Code.ALREADY_EXISTS, message, details)
    if exc.status in (400, 422):
        return validation_error(message, causes)
    if exc.status == 403:
        return ApiError(Code.FORBIDDEN, message, details)
    return ApiError(
        Code.KUBERNETES_ERROR, f"The Kubernetes API server answered {exc.status} {exc.reason}: {message}", details
    )


def unavailable(message: str) -> ApiError:
    return ApiError(Code.CLUSTER_UNAVAILABLE, message, headers={"Retry-After": "2"})


def _from_http(exc: web.HTTPException) -> ApiError:
    status = exc.status
    if status == 404:
        return ApiError(Code.NOT_FOUND, "No such route")
    if status == 405:
        allowed = exc.headers.get("Allow", "")
        return ApiError(Code.METHOD_NOT_ALLOWED, "Method not allowed", headers={"Allow": allowed})
    if status == TOO_LARGE:  # aiohttp's own limit, hit while reading a body without Content-Length
        return body_error("The request body is too large", "too_large", status=TOO_LARGE)
    if 400 <= status < 500:
        return body_error(exc.reason or "Bad request", "bad_request")
    log.error("unexpected HTTP exception %s", status)
    return ApiError(Code.INTERNAL_ERROR, "Internal error")


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """The outermost middleware: whatever goes wrong, the client gets the envelope."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except ApiError as err:
        return error_response(err)
    except ClientGone as exc:  # expected on any network: one line, no trace (and nobody reads the answer)
        log.info("%s", exc)
        return error_response(body_error("The request body was cut short", "incomplete_body"))
    except k.ClusterUnavailable as exc:
        return error_response(unavailable(f"The Kubernetes API cannot be reached: {exc}"))
    except k.KubeError as exc:
        return error_response(from_kube(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(_from_http(exc))
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(ApiError(Code.INTERNAL_ERROR, "Internal error"))

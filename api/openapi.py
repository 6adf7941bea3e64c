"""The OpenAPI 3.1 document, generated from the endpoint declarations and their pydantic models.

Request bodies and parameters use the same models the handlers validate with (the deployment body
is the operator's ``KubeFoundryDeploymentSpec``, the model the CRD is generated from); every response,
error responses included, is documented with its schema and, for errors, the codes it can carry.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Sequence
from importlib import metadata
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from . import errors
from .endpoints import Operation, all_errors
from .errors import Code
from .schemas import ErrorResponse

REF = "#/components/schemas/{model}"
JSON = dict[str, Any]


class OpenApiDocument(BaseModel):
    """An OpenAPI 3.1 document (this API's own, at GET /api/openapi.json)."""

    model_config = ConfigDict(extra="allow")

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]


def _version() -> str:
    try:
        return metadata.version("kubefoundry")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.0.0"


def _ref(model: type[BaseModel]) -> JSON:
    return {"$ref": REF.format(model=model.__name__)}


def _without_null(schema: JSON) -> JSON:
    """Optional parameters are simply absent: drop the null branch and the null default."""
    out = {k: v for k, v in schema.items() if k not in ("title", "default") or (k == "default" and v is not None)}
    variants = out.get("anyOf")
    if isinstance(variants, list):
        rest = [v for v in variants if v != {"type": "null"}]
        if len(rest) == 1:
            del out["anyOf"]
            out.update(rest[0])
        else:
            out["anyOf"] = rest
    return out


def _parameters(model: type[BaseModel], location: Literal["path", "query"], components: JSON) -> list[JSON]:
    schema = model.model_json_schema(ref_template=REF, mode="validation")
    components.update(schema.pop("$defs", {}))
    required = set(schema.get("required") or [])
    params = []
    for name, prop in (schema.get("properties") or {}).items():
        prop = _without_null(copy.deepcopy(prop))
        description = prop.pop("description", "")
        param: JSON = {"name": name, "in": location, "required": location == "path" or name in required}
        if description:
            param["description"] = description
        param["schema"] = prop
        params.append(param)
    return params


def _meaning(code: Code, status: int) -> str:
    return errors.BODY_STATUSES.get(status, errors.DESCRIPTIONS[code])


def _error_responses(op: Operation, authenticated: bool) -> dict[str, JSON]:
    by_status: dict[int, list[Code]] = defaultdict(list)
    for code, status in all_errors(op, authenticated=authenticated):
        by_status[status].append(code)
    out: dict[str, JSON] = {}
    for status, codes in sorted(by_status.items()):
        response: JSON = {
            "description": " ".join(f"{c.value}: {_meaning(c, status)}" for c in codes),
            "content": {
                "application/json": {
                    "schema": {
                        "allOf": [_ref(ErrorResponse), {"properties": {"code": {"enum": [c.value for c in codes]}}}]
                    }
                }
            },
        }
        if status == 503:
            response["headers"] = {
                "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "string"}}
            }
        out[str(status)] = response
    return out


def _error_table() -> str:
    rows = [(c, errors.STATUS[c]) for c in Code]
    rows[1:1] = [(Code.VALIDATION_ERROR, status) for status in errors.BODY_STATUSES]
    lines = "\n".join(f"| {c.value} | {status} | {_meaning(c, status)} |" for c, status in rows)
    return (
        "Every error is JSON `{error, code, details}`, including unknown routes (404 NOT_FOUND) and "
        "wrong methods (405 METHOD_NOT_ALLOWED). `details` is always an object: `{}` when there is "
        "nothing to add, `{fields: [{field, message, type}]}` for per-field problems, and `reason` (with "
        "more keys such as `position`) when a request body was refused as a whole. POST, PUT and PATCH "
        "must send `Content-Type: application/json`, with or without a body; state-changing requests from "
        "browser origins that are not allowed are refused.\n\n| code | status | meaning |\n|---|---|---|\n" + lines
    )


SECURITY_SCHEME = "kubernetesToken"
_SECURITY: JSON = {
    "securitySchemes": {
        SECURITY_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "A token the Kubernetes cluster accepts (ServiceAccount, OIDC, ...); the caller needs the RBAC "
                "rights kubectl would need for the same effect."
            ),
        }
    }
}


def build_document(operations: Sequence[Operation], *, authenticated: bool = False) -> JSON:
    """The document of a server that checks callers' tokens (`authenticated`, --auth kubernetes) or not."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorResponse, "serialization")]
    for op in operations:
        models.append((op.response, "serialization"))
        if op.body_model is not None:
            models.append((op.body_model, "validation"))
    _, top = models_json_schema(list(dict.fromkeys(models)), ref_template=REF)
    components: JSON = dict(top.get("$defs") or {})

    paths: dict[str, JSON] = defaultdict(dict)
    for op in operations:
        entry: JSON = {"operationId": op.operation_id, "summary": op.summary, "tags": [op.tag]}
        if op.description:
            entry["description"] = op.description
        if authenticated and not op.public:
            entry["security"] = [{SECURITY_SCHEME: []}]
        params: list[JSON] = []
        if op.path_model is not None:
            params += _parameters(op.path_model, "path", components)
        if op.query_model is not None:
            params += _parameters(op.query_model, "query", components)
        if params:
            entry["parameters"] = params
        if op.body_model is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _ref(op.body_model)}},
            }
        entry["responses"] = {
            str(op.status): {
                "description": op.summary,
                "content": {op.media_type: {"schema": _ref(op.response)}},
            },
            **_error_responses(op, authenticated),
        }
        paths[op.full_path][op.method.lower()] = entry

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "KubeFoundry API",
            "version": _version(),
            "description": (
                "Deploy and observe large language models on Kubernetes. The API keeps no state: it reads "
                "and writes KubeFoundry's custom resources.\n\n" + _error_table()
            ),
        },
        "paths": dict(paths),
        "components": {"schemas": components, **(_SECURITY if authenticated else {})},
    }

"""Shapes shared by every KubeFoundry resource: conditions and the API group."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

GROUP = "kubefoundry.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"


class CamelModel(BaseModel):
    """Our resources use the Kubernetes camelCase field names verbatim; unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_enum_values=True)


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(CamelModel):
    """A condition as the Kubernetes API conventions describe it (metav1.Condition)."""

    type: Annotated[str, Field(description="The aspect of the resource this condition describes.", max_length=316)]
    status: Annotated[ConditionStatus, Field(description="True, False or Unknown.")]
    reason: Annotated[
        str,
        Field(
            description="One CamelCase word a program can switch on.",
            max_length=1024,
            pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        ),
    ]
    message: Annotated[str, Field(description="What happened, for people.", max_length=32768)] = ""
    lastTransitionTime: Annotated[
        str, Field(description="When status last changed (RFC 3339).", json_schema_extra={"format": "date-time"})
    ]
    observedGeneration: Annotated[
        int | None, Field(description="The metadata.generation this condition was computed from.", ge=0)
    ] = None


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    conditions: list[dict[str, Any]],
    type_: str,
    status: str,
    reason: str,
    message: str,
    generation: int | None,
) -> list[dict[str, Any]]:
    """Returns conditions with one replaced; lastTransitionTime moves only when status changes."""
    out = [dict(c) for c in conditions if c.get("type") != type_]
    previous = next((c for c in conditions if c.get("type") == type_), None)
    transition = previous["lastTransitionTime"] if previous and previous.get("status") == status else now_rfc3339()
    new = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
        "observedGeneration": generation,
    }
    out.append(new)
    return out


def find_condition(conditions: list[dict[str, Any]] | None, type_: str) -> dict[str, Any] | None:
    return next((c for c in conditions or [] if c.get("type") == type_), None)

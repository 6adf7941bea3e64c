"""The route modules, one per area; each declares its endpoints on its own EndpointTable."""

from __future__ import annotations

from ..endpoints import EndpointTable, Operation
from . import (
    deployment_details,
    deployment_stream,
    deployments,
    docs,
    gpus,
    health,
    installation,
    installation_progress,
    models,
    session,
    settings,
)

TABLES: tuple[EndpointTable, ...] = (
    health.table,
    gpus.table,
    settings.table,
    models.table,
    deployment_stream.table,  # before deployments: /deployments/{name} would match /deployments/events
    deployments.table,
    deployment_details.table,
    installation.table,
    installation_progress.table,
    session.table,
    docs.table,
)


def operations() -> list[Operation]:
    return [op for table in TABLES for op in table.operations]

"""The route modules, one per area; each declares its endpoints on its own EndpointTable."""

from __future__ import annotations

from ..endpoints import EndpointTable, Operation
from . import deployments, docs, gpus, health, installation, models, settings

TABLES: tuple[EndpointTable, ...] = (
    health.table,
    gpus.table,
    settings.table,
    models.table,
    deployments.table,
    installation.table,
    docs.table,
)


def operations() -> list[Operation]:
    return [op for table in TABLES for op in table.operations]

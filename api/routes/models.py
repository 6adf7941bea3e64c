"""GET /models: the curated catalog, filtered."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import Field

from kubefoundry.operator.models.deployment import Engine

from ..catalog import ModelsResponse, load_catalog, search_models
from ..endpoints import EndpointTable, Inputs, json_response

table = EndpointTable()


class ModelsQuery(Inputs):
    search: Annotated[
        str | None, Field(description="Case-insensitive substring of the model's name or id.", max_length=200)
    ] = None
    engine: Annotated[Engine | None, Field(description="Only models this engine can serve.")] = None


@table.route(
    "GET",
    "/models",
    operation_id="listModels",
    summary="The curated model catalog",
    tag="models",
    response=ModelsResponse,
    query_model=ModelsQuery,
)
async def list_models(request: web.Request, query: ModelsQuery) -> web.Response:
    engine = str(query.engine.value) if query.engine is not None else None
    models = search_models(load_catalog(), query.search, engine)
    return json_response({"models": [m.model_dump(mode="json") for m in models]})

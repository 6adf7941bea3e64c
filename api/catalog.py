"""The curated model catalog (``api/data/models.yaml``): loaded and validated once, filtered per request."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field

from kubefoundry.operator.models.deployment import MODEL_ID_PATTERN, Engine


class CatalogModel(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    id: Annotated[str, Field(description="Hugging Face model id (the deployment's modelId).", pattern=MODEL_ID_PATTERN)]
    name: Annotated[str, Field(description="Display name.", min_length=1)]
    description: Annotated[str, Field(description="One line about the model.", min_length=1)]
    size: Annotated[str, Field(description="Parameter count, e.g. 8B.", pattern=r"^\d+(\.\d+)?[BM]$")]
    task: Annotated[str, Field(description="chat or text-generation.", pattern=r"^(chat|text-generation)$")]
    contextLength: Annotated[int, Field(description="Native context window in tokens.", ge=1)]
    supportedEngines: Annotated[list[Engine], Field(description="Engines known to serve the model.", min_length=1)]
    minGpuMemory: Annotated[
        str,
        Field(
            description="Total GPU memory one replica needs (weights plus a working KV cache), e.g. 24GB.",
            pattern=r"^\d+GB$",
        ),
    ]
    gated: Annotated[bool, Field(description="The repository requires accepting terms: set hfTokenSecret.")]


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[CatalogModel]


class ModelsResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[CatalogModel]


def parse_catalog(text: str) -> Catalog:
    catalog = Catalog.model_validate(yaml.safe_load(text))
    ids = [m.id for m in catalog.models]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate model ids in the catalog")
    return catalog


@cache
def load_catalog() -> Catalog:
    text = resources.files("kubefoundry.api").joinpath("data/models.yaml").read_text(encoding="utf-8")
    return parse_catalog(text)


def search_models(catalog: Catalog, search: str | None = None, engine: str | None = None) -> list[CatalogModel]:
    """Case-insensitive substring match on name or id; engine must be in supportedEngines."""
    needle = (search or "").strip().lower()
    return [
        m
        for m in catalog.models
        if (not needle or needle in m.id.lower() or needle in m.name.lower())
        and (engine is None or engine in m.supportedEngines)
    ]

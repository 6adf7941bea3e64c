"""The curated catalog is well-formed, and the OpenAPI document covers every route."""

from __future__ import annotations

import pytest

from kubefoundry.api.app import create_app
from kubefoundry.api.catalog import load_catalog, parse_catalog, search_models
from kubefoundry.api.openapi import build_document
from kubefoundry.api.routes import operations
from kubefoundry.operator.models.deployment import KubeFoundryDeploymentSpec
from kubefoundry.operator.runtime import kube as k


def test_catalog_entries_are_complete_and_deployable() -> None:
    catalog = load_catalog()
    assert 10 <= len(catalog.models) <= 20
    for model in catalog.models:
        KubeFoundryDeploymentSpec(modelId=model.id)  # every id is a valid modelId
        assert model.supportedEngines
    gated = {m.id for m in catalog.models if m.gated}
    assert "meta-llama/Llama-3.1-8B-Instruct" in gated and "Qwen/Qwen3-0.6B" not in gated


def test_catalog_rejects_duplicates_and_unknown_fields() -> None:
    entry = """
  - {id: a/b, name: A, description: d, size: 1B, task: chat, contextLength: 1, supportedEngines: [vllm],
     minGpuMemory: 4GB, gated: false}"""
    with pytest.raises(ValueError, match="duplicate"):
        parse_catalog("models:" + entry + entry)
    with pytest.raises(ValueError):
        parse_catalog("models:" + entry.replace("gated: false", "gated: false, extra: 1"))


def test_search_is_case_insensitive_on_name_and_id() -> None:
    catalog = load_catalog()
    assert [m.id for m in search_models(catalog, "QWEN3-0.6")] == ["Qwen/Qwen3-0.6B"]
    assert all("sglang" in m.supportedEngines for m in search_models(catalog, None, "sglang"))
    assert search_models(catalog, "  ") == catalog.models


def test_openapi_documents_every_route_with_its_errors() -> None:
    app = create_app(k.Kube.__new__(k.Kube))  # routes only; nothing starts without an event loop
    routed = {(r.resource.canonical, r.method) for r in app.router.routes() if r.method != "HEAD" and r.resource}
    doc = build_document(operations())
    documented = {(p, m.upper()) for p, ops in doc["paths"].items() for m in ops}
    assert routed == documented
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert "500" in op["responses"], (path, method)
            if "requestBody" in op:
                assert {"400", "413", "415"} <= set(op["responses"]), (path, method)
    assert doc["components"]["schemas"]["SettingsUpdate"]["properties"]["activeProviderId"]["enum"]

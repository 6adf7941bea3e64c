"""The REST API's read endpoints, settings, GPUs and the HTTP edge, against the real API server."""

# ruff: noqa: E402  (api_fixtures is registered for assertion rewriting before it is imported)
from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import pytest

pytest.register_assert_rewrite("api_fixtures")

from api_fixtures import DYNAMO_POD_LABEL, Api, assert_error, pod_manifest, start_api

from kubefoundry.api.catalog import load_catalog
from kubefoundry.api.routes import operations
from kubefoundry.operator.providers import all_providers, get_provider
from kubefoundry.operator.providers.detect import detect_installation
from kubefoundry.operator.runtime import kube as k
from kubefoundry.operator.runtime import settings as kf_settings
from support import eventually

pytest_plugins = ["api_fixtures"]


async def test_health(api: Api) -> None:
    reply = await api.get("/api/health")
    assert (reply.status, reply.body) == (200, {"status": "ok"})


async def test_cluster_status_reports_connection_namespace_and_provider(api: Api, kube: k.Kube) -> None:
    reply = await api.get("/api/cluster/status")
    assert reply.status == 200
    assert set(reply.body) == {"connected", "namespace", "providerId", "providerInstalled"}
    assert reply.body["connected"] is True
    assert reply.body["namespace"] == kf_settings.default_deployment_namespace()
    active = (await kf_settings.read_settings(kube)).active_provider_id
    assert reply.body["providerId"] == active
    expected = (await detect_installation(kube, get_provider(active))).installed
    assert reply.body["providerInstalled"] is expected


async def test_settings_get_put_and_survive_a_restart(api: Api, kube: k.Kube, settings_namespace: str) -> None:
    providers = all_providers()
    reply = await api.get("/api/settings")
    assert reply.status == 200
    assert set(reply.body) == {"activeProviderId", "providers"}
    assert reply.body["providers"] == [{"id": p.id, "name": p.name, "description": p.description} for p in providers]
    assert reply.body["activeProviderId"] in {p.id for p in providers}

    target = providers[-1].id
    put = await api.call("PUT", "/api/settings", json_body={"activeProviderId": target})
    assert put.status == 200
    assert put.body["activeProviderId"] == target
    cm = await kube.get(k.CONFIGMAPS, kf_settings.SETTINGS_NAME, settings_namespace)
    assert cm["data"][kf_settings.ACTIVE_PROVIDER_KEY] == target

    # A new server process reads the same ConfigMap.
    fresh = await start_api(kube)
    try:
        again = await fresh.get("/api/settings")
        assert (again.status, again.body["activeProviderId"]) == (200, target)
        status = await fresh.get("/api/cluster/status")
        assert status.body["providerId"] == target
    finally:
        await fresh.client.close()


async def test_settings_reject_unknown_provider_and_bad_bodies(api: Api, settings_namespace: str) -> None:
    body = assert_error(
        await api.call("PUT", "/api/settings", json_body={"activeProviderId": "no-such-provider"}),
        400,
        "VALIDATION_ERROR",
    )
    assert body["details"]["fields"][0]["field"] == "activeProviderId"
    assert "no-such-provider" in body["details"]["fields"][0]["message"]
    body = assert_error(await api.call("PUT", "/api/settings", json_body={}), 400, "VALIDATION_ERROR")
    assert [d["field"] for d in body["details"]["fields"]] == ["activeProviderId"]
    body = assert_error(
        await api.call("PUT", "/api/settings", json_body={"activeProviderId": "dynamo", "extra": 1}),
        400,
        "VALIDATION_ERROR",
    )
    assert [d["field"] for d in body["details"]["fields"]] == ["extra"]


async def test_models_catalog_and_filters(api: Api) -> None:
    catalog = load_catalog()
    reply = await api.get("/api/models")
    assert reply.status == 200
    assert list(reply.body) == ["models"]
    assert len(reply.body["models"]) == len(catalog.models) >= 10
    first = reply.body["models"][0]
    assert set(first) == {
        "id", "name", "description", "size", "task", "contextLength", "supportedEngines", "minGpuMemory", "gated",
    }  # fmt: skip
    assert first == catalog.models[0].model_dump(mode="json")

    llama = await api.get("/api/models", search="LLAMA")
    ids = [m["id"] for m in llama.body["models"]]
    assert ids and all(
        "llama" in i.lower() or "llama" in m["name"].lower() for i, m in zip(ids, llama.body["models"], strict=True)
    )
    assert "TinyLlama/TinyLlama-1.1B-Chat-v1.0" in ids

    by_name = await api.get("/api/models", search="phi-3 mini")
    assert [m["id"] for m in by_name.body["models"]] == ["microsoft/Phi-3-mini-4k-instruct"]

    trt = await api.get("/api/models", engine="trtllm")
    assert trt.body["models"] and all("trtllm" in m["supportedEngines"] for m in trt.body["models"])
    assert "google/gemma-2-9b-it" not in [m["id"] for m in trt.body["models"]]

    none = await api.get("/api/models", search="no-such-model-anywhere")
    assert none.body == {"models": []}
    body = assert_error(await api.get("/api/models", engine="tensorflow"), 400, "VALIDATION_ERROR")
    assert body["details"]["fields"][0]["field"] == "engine"


async def test_gpus_per_node_and_totals(api: Api, kube: k.Kube, namespace: str) -> None:
    # Two GPU pods bound to one node (the fake kubelet runs them), one CPU pod, one finished GPU pod.
    await kube.create(k.PODS, pod_manifest("gpu-a", {"app": "t"}, gpus=2, node="gpu-h100-0"), namespace)
    await kube.create(k.PODS, pod_manifest("gpu-b", {"app": "t"}, gpus=1, node="gpu-h100-0"), namespace)
    await kube.create(k.PODS, pod_manifest("cpu", {"app": "t"}, node="gpu-h100-0"), namespace)

    async def consistent() -> dict[str, Any] | None:
        """The API's view equals a fresh list of the cluster's pods (other tests run pods too)."""
        reply = await api.get("/api/cluster/gpus")
        assert reply.status == 200
        pods = (await kube.list(k.PODS, field_selector="status.phase!=Succeeded,status.phase!=Failed"))["items"]
        mine = [p for p in pods if p["metadata"]["namespace"] == namespace and p["metadata"]["name"].startswith("gpu")]
        expected: dict[str, int] = {}
        for pod in pods:
            node = pod["spec"].get("nodeName")
            for c in pod["spec"]["containers"]:
                gpus = int((c.get("resources") or {}).get("limits", {}).get("nvidia.com/gpu", 0))
                if node and gpus:
                    expected[node] = expected.get(node, 0) + gpus
        got = {n["name"]: n["allocated"] for n in reply.body["nodes"]}
        if len(mine) == 2 and all(got.get(n, 0) == expected.get(n, 0) for n in got):
            return reply.body  # type: ignore[no-any-return]
        return None

    body = await eventually(consistent, 30, "GPU allocation to match the cluster")
    assert body["resource"] == "nvidia.com/gpu"
    names = [n["name"] for n in body["nodes"]]
    assert names == ["gpu-h100-0", "gpu-h100-1"]  # the CPU node is not a GPU node
    node = body["nodes"][0]
    assert set(node) == {
        "name", "product", "memoryMiB", "capacity", "allocatable", "allocated", "free", "ready", "schedulable",
    }  # fmt: skip
    assert node["product"] == "NVIDIA-H100-80GB-HBM3"
    assert node["memoryMiB"] == 81559
    assert (node["capacity"], node["allocatable"]) == (8, 8)
    assert node["allocated"] >= 3
    assert node["free"] == max(8 - node["allocated"], 0)
    assert node["ready"] is True and node["schedulable"] is True
    totals = body["totals"]
    for key in ("capacity", "allocatable", "allocated", "free"):
        assert totals[key] == sum(n[key] for n in body["nodes"])
    assert totals["nodes"] == 2
    assert totals["maxFreePerNode"] == max(n["free"] for n in body["nodes"])

    # Deleting a GPU pod gives its GPUs back.
    before = node["allocated"]
    await kube.delete(k.PODS, "gpu-a", namespace)

    async def released() -> bool:
        reply = await api.get("/api/cluster/gpus")
        return bool(reply.body["nodes"][0]["allocated"] <= before - 2)

    await eventually(released, 30, "the deleted pod's GPUs to be released")


async def test_openapi_document_lists_every_route_and_error(api: Api) -> None:
    reply = await api.get("/api/openapi.json")
    assert reply.status == 200
    doc = reply.body
    assert doc["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    assert documented == {(op.full_path, op.method) for op in operations()}
    routed = {
        (r.resource.canonical, r.method)
        for r in api.client.server.app.router.routes()  # type: ignore[union-attr]
        if r.method != "HEAD" and r.resource is not None
    }
    assert routed == documented
    create = doc["paths"]["/api/deployments"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("CreateDeploymentRequest")
    assert set(create["responses"]) == {"201", "400", "403", "404", "409", "413", "415", "500", "502", "503"}
    # This server checks no tokens (see test_api_auth for one that does), and its document says so.
    assert "security" not in create and "securitySchemes" not in doc["components"]
    schemas = doc["components"]["schemas"]
    codes_400 = create["responses"]["400"]["content"]["application/json"]["schema"]["allOf"][1]["properties"]["code"]
    assert set(codes_400["enum"]) == {"VALIDATION_ERROR"}
    for status in ("413", "415"):
        codes = create["responses"][status]["content"]["application/json"]["schema"]["allOf"][1]["properties"]["code"]
        assert codes["enum"] == ["VALIDATION_ERROR"]
    # details is always an object: per-field problems under "fields", a refused body's "reason".
    details = schemas["ErrorResponse"]["properties"]["details"]
    assert details["$ref"].endswith("/ErrorDetails") and "details" in schemas["ErrorResponse"]["required"]
    error_details = schemas["ErrorDetails"]
    assert error_details["type"] == "object" and error_details["additionalProperties"] is True
    assert error_details["properties"]["fields"]["items"]["$ref"].endswith("/ErrorDetail")
    assert error_details["properties"]["reason"]["type"] == "string"
    assert set(schemas["ErrorDetail"]["required"]) == {"field", "message", "type"}
    preview = doc["paths"]["/api/deployments/preview"]["post"]
    assert "424" in preview["responses"]
    spec_fields = set(schemas["CreateDeploymentRequest"]["properties"])
    assert {
        "name",
        "namespace",
        "modelId",
        "engine",
        "mode",
        "replicas",
        "hfTokenSecret",
        "enforceEager",
        "enablePrefixCaching",
        "trustRemoteCode",
        "gpusPerReplica",
        "prefill",
        "decode",
    } <= spec_fields
    assert schemas["CreateDeploymentRequest"]["additionalProperties"] is False


JSON_TYPE = {"Content-Type": "application/json"}
ACCEPTED = ["gzip", "deflate", "identity"]


def encoded(coding: str) -> dict[str, str]:
    return {**JSON_TYPE, "Content-Encoding": coding}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "details"),
    [
        ("GET", "/api/no-such-thing", {}, 404, {}),
        ("GET", "/", {}, 404, {}),
        ("PATCH", "/api/health", {}, 405, {}),
        ("DELETE", "/api/deployments", {}, 405, {}),
        ("POST", "/api/deployments", {"data": "{}", "headers": {"Content-Type": "text/plain"}}, 415,
         {"reason": "unsupported_media_type", "contentType": "text/plain", "accepted": ["application/json"]}),
        ("POST", "/api/deployments", {"data": b"{}"}, 415,
         {"reason": "unsupported_media_type", "contentType": "application/octet-stream",
          "accepted": ["application/json"]}),
        ("POST", "/api/deployments", {"data": "{not json", "headers": JSON_TYPE}, 400,
         {"reason": "invalid_json", "position": 1, "line": 1, "column": 2}),
        ("POST", "/api/deployments", {"data": "", "headers": JSON_TYPE}, 400,
         {"reason": "invalid_json", "position": 0, "line": 1, "column": 1}),
        ("POST", "/api/deployments", {"data": '{"a":\n 1,}', "headers": JSON_TYPE}, 400,
         {"reason": "invalid_json", "position": 9, "line": 2, "column": 4}),
        ("POST", "/api/deployments", {"data": "[1, 2]", "headers": JSON_TYPE}, 400,
         {"reason": "not_an_object", "type": "array"}),
        ("POST", "/api/deployments", {"data": '"x"', "headers": JSON_TYPE}, 400,
         {"reason": "not_an_object", "type": "string"}),
        ("POST", "/api/deployments", {"data": b"\xff\xfe", "headers": JSON_TYPE}, 400,
         {"reason": "invalid_json", "position": 0, "line": 1, "column": 1}),
        ("PUT", "/api/settings", {"data": "[" * 100_000, "headers": JSON_TYPE}, 400, {"reason": "invalid_json"}),
        ("POST", "/api/deployments", {"data": "x" * (1024 * 1024 + 1), "headers": JSON_TYPE}, 413,
         {"reason": "too_large", "limit": 1024 * 1024}),
        # aiohttp decoded these itself and answered 500 (gzip, deflate) or plain text (br).
        ("POST", "/api/deployments", {"data": "{}", "headers": encoded("gzip")}, 400,
         {"reason": "invalid_content_encoding", "contentEncoding": "gzip"}),
        ("POST", "/api/deployments", {"data": "{}", "headers": encoded("deflate")}, 400,
         {"reason": "invalid_content_encoding", "contentEncoding": "deflate"}),
        ("POST", "/api/deployments", {"data": b"\x1f\x8b\x08\x00", "headers": encoded("gzip")},
         400, {"reason": "invalid_content_encoding", "contentEncoding": "gzip"}),
        ("POST", "/api/deployments", {"data": "{}", "headers": encoded("br")}, 415,
         {"reason": "unsupported_content_encoding", "contentEncoding": "br", "accepted": ACCEPTED}),
        ("PUT", "/api/settings", {"data": "{}", "headers": encoded("zstd")}, 415,
         {"reason": "unsupported_content_encoding", "contentEncoding": "zstd", "accepted": ACCEPTED}),
        ("PUT", "/api/settings", {"data": "{}", "headers": encoded("gzip, gzip")}, 415,
         {"reason": "unsupported_content_encoding", "contentEncoding": "gzip, gzip",
          "accepted": ACCEPTED}),
        # 2 MiB of spaces compress to a few KiB: the limit applies to the decoded body.
        ("POST", "/api/deployments", {"data": gzip.compress(b" " * (2 * 1024 * 1024)),
                                      "headers": encoded("gzip")}, 413,
         {"reason": "too_large", "limit": 1024 * 1024}),
    ],
)  # fmt: skip
async def test_http_errors_use_the_envelope(
    api: Api, method: str, path: str, kwargs: dict[str, Any], status: int, details: dict[str, Any]
) -> None:
    reply = await api.call(method, path, **kwargs)
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(status, "VALIDATION_ERROR")
    body = assert_error(reply, status, code)
    assert body["details"] == details
    if status == 405:
        assert reply.headers["Allow"]
    if details.get("reason") == "unsupported_content_encoding":
        assert reply.headers["Accept-Encoding"] == "gzip, deflate"


@pytest.mark.parametrize("coding", ["gzip", "x-gzip", "deflate", "raw-deflate", "identity"])
async def test_encoded_bodies_are_decoded(api: Api, settings_namespace: str, coding: str) -> None:
    """A correctly encoded body is read like a plain one (PUT /settings is validated after decoding)."""
    raw = json.dumps({"activeProviderId": "dynamo"}).encode()
    body = {
        "gzip": gzip.compress,
        "x-gzip": gzip.compress,
        "deflate": zlib.compress,
        "raw-deflate": lambda b: zlib.compress(b, wbits=-zlib.MAX_WBITS),
        "identity": lambda b: b,
    }[coding](raw)
    header = "deflate" if coding == "raw-deflate" else coding
    reply = await api.call("PUT", "/api/settings", data=body, headers=encoded(header))
    assert (reply.status, reply.body["activeProviderId"]) == (200, "dynamo"), reply


async def test_oversized_chunked_body_is_413(api: Api) -> None:
    async def chunks() -> Any:
        for _ in range(20):
            yield b" " * 100_000

    async with api.client.request(
        "POST", "/api/deployments", data=chunks(), headers={"Content-Type": "application/json"}
    ) as resp:
        assert resp.status == 413
        body = await resp.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert body["details"] == {"reason": "too_large", "limit": 1024 * 1024}


async def test_cors_allows_localhost_dev_origins_only_by_default(api: Api, kube: k.Kube) -> None:
    dev = await api.call("GET", "/api/health", headers={"Origin": "http://localhost:5173"})
    assert dev.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    other = await api.call("GET", "/api/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    async with api.client.options(
        "/api/deployments",
        headers={"Origin": "http://127.0.0.1:3000", "Access-Control-Request-Method": "POST"},
    ) as resp:
        assert resp.status == 204
        assert resp.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:3000"
        assert "POST" in resp.headers["Access-Control-Allow-Methods"]
        assert "Content-Type" in resp.headers["Access-Control-Allow-Headers"]

    configured = await start_api(kube, cors_origins=["https://ui.example.com"])
    try:
        ok = await configured.call("GET", "/api/health", headers={"Origin": "https://ui.example.com"})
        assert ok.headers["Access-Control-Allow-Origin"] == "https://ui.example.com"
        # Errors carry the CORS headers too, so a browser UI can read them.
        err = await configured.call("GET", "/api/nope", headers={"Origin": "https://ui.example.com"})
        assert err.status == 404 and err.headers["Access-Control-Allow-Origin"] == "https://ui.example.com"
    finally:
        await configured.client.close()


async def test_pod_label_key_comes_from_the_provider(api: Api) -> None:
    assert DYNAMO_POD_LABEL in api.context.pods
    assert get_provider("dynamo").pod_selector("x").startswith(DYNAMO_POD_LABEL)

"""modelId and image are validated as the schema says, by the API server (the CRD) and by the REST API.

modelId: a Hugging Face repository id (`org/name` or `name`; letters, digits, `-`, `_`, `.`; each part
starts and ends with a letter or digit; no `--` or `..`, as on the Hub; at most 96 characters per part).
image: an OCI reference ([host[:port]/]path[:tag][@digest], the grammar of distribution/reference).
Accepted values are checked with server-side dry runs (the API's preview), so nothing is created.
"""

# ruff: noqa: E402  (api_fixtures is registered for assertion rewriting before it is imported)
from __future__ import annotations

from typing import Any

import pytest

pytest.register_assert_rewrite("api_fixtures")

from api_fixtures import Api, assert_error

from kubefoundry.operator.models.deployment import KFD
from kubefoundry.operator.runtime import kube as k
from support import kfd

pytest_plugins = ["api_fixtures"]

GOOD_MODEL_IDS = [
    "Qwen/Qwen3-0.6B",
    "gpt2",
    "meta-llama/Llama-3.1-8B-Instruct",
    "nvidia/Llama-3_3-Nemotron-Super-49B-v1",
    "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
    "a-.b/c_-_d",  # only `--` and `..` are forbidden
    f"{'o' * 96}/{'m' * 95}",
]
BAD_MODEL_IDS = [
    "a..b/c--d",  # the example: accepted and Running before
    "a--b",
    "org/a..b",
    "-org/name",
    "org/name-",
    "org/name/extra",
    "org/_name",
    "org name",
    "org/" + "m" * 97,  # a part longer than the Hub allows
]
DIGEST = "sha256:" + "0123456789abcdef" * 4
GOOD_IMAGES = [
    "nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.0.1",
    "vllm/vllm-openai",
    "localhost:5000/team/engine:v1_2.3-rc1",
    f"registry.example.com/engine@{DIGEST}",
    f"engine:2@{DIGEST}",
    "[::1]:5000/engine:x",
]
BAD_IMAGES = [
    "x\u0001\u007f",  # the example: control characters were accepted
    "Registry.io/UPPER/case",
    "engine:",
    "engine:-tag",
    "engine@sha256:abc",
    "a//b",
    "https://registry.example.com/engine",
    "engine:" + "t" * 129,
]


def _rejected_by_the_api_server(exc: k.KubeError, field: str) -> None:
    assert exc.status == 422, exc
    assert f"spec.{field}" in exc.message, exc.message


async def _dry_run_create(kube: k.Kube, namespace: str, **spec: Any) -> None:
    await kube.create(KFD, kfd("patterns", provider="dynamo", **spec), namespace, dry_run=True)


def _body(namespace: str, **spec: Any) -> dict[str, Any]:
    return {"name": "patterns", "namespace": namespace, "provider": "dynamo", "modelId": "Qwen/Qwen3-0.6B", **spec}


BAD = [("modelId", v) for v in BAD_MODEL_IDS] + [("image", v) for v in BAD_IMAGES]
GOOD = [("modelId", v) for v in GOOD_MODEL_IDS] + [("image", v) for v in GOOD_IMAGES]


async def test_invalid_values_are_refused_by_the_crd_and_the_api(api: Api, kube: k.Kube, namespace: str) -> None:
    for field, value in BAD:
        with pytest.raises(k.KubeError) as refused:
            await _dry_run_create(kube, namespace, **{field: value})
        _rejected_by_the_api_server(refused.value, field)
        for route in ("/api/deployments", "/api/deployments/preview"):
            reply = await api.call("POST", route, json_body=_body(namespace, **{field: value}))
            body = assert_error(reply, 400, "VALIDATION_ERROR")
            assert [f["field"] for f in body["details"]["fields"]] == [field], (value, body)
    assert await kube.get_or_none(KFD, "patterns", namespace) is None


async def test_valid_values_are_accepted_by_the_crd_and_the_api(api: Api, kube: k.Kube, namespace: str) -> None:
    for field, value in GOOD:
        await _dry_run_create(kube, namespace, **{field: value})
        reply = await api.call("POST", "/api/deployments/preview", json_body=_body(namespace, **{field: value}))
        assert reply.status == 200, (value, reply)
        assert reply.body["deployment"]["spec"][field] == value

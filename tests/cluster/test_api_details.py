"""The endpoints behind the web UI's details, providers and sign-in screens, and the UI's own serving,
against a real API server and cluster: Events (deduplicated, newest first, the scheduler's among them),
the stored object, scaling, whoami, the ProviderInstall view; `/` and its assets."""

# ruff: noqa: E402  (api_fixtures is registered for assertion rewriting before it is imported)
from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

pytest.register_assert_rewrite("api_fixtures")

from api_fixtures import Api, assert_error, start_api

from harness import REPO, Cluster
from kubefoundry.api.auth import KubernetesAuth
from kubefoundry.operator.models.deployment import KFD
from kubefoundry.operator.models.providerinstall import RESOURCE as PROVIDER_INSTALLS
from kubefoundry.operator.runtime import kube as k
from support import eventually, kfd

pytest_plugins = ["api_fixtures"]

UI_BUILD = REPO / "api" / "static"


def event(name: str, involved: dict[str, str], reason: str, message: str, count: int, first: str, last: str) -> Any:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name},
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "type": "Normal",
        "count": count,
        "firstTimestamp": first,
        "lastTimestamp": last,
        "source": {"component": "test"},
    }


@pytest.mark.usefixtures("operator", "dynamo_standin")
async def test_events_of_a_deployment_its_resource_and_pods(api: Api, kube: k.Kube, namespace: str) -> None:
    # More GPUs than any node has: its pods stay Pending, and the scheduler says why in an Event.
    await kube.create(KFD, kfd("huge", gpusPerReplica=8, replicas=3), namespace)
    owner = {
        "apiVersion": "kubefoundry.io/v1alpha1",
        "kind": "KubeFoundryDeployment",
        "name": "huge",
        "namespace": namespace,
    }
    # Two Events that say the same thing (as two reporters, or a reporter that restarted, would write them).
    await kube.create(
        k.EVENTS,
        event("a", owner, "Tested", "same words", 2, "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"),
        namespace,
    )
    await kube.create(
        k.EVENTS,
        event("b", owner, "Tested", "same words", 3, "2026-01-01T00:00:30Z", "2026-01-01T00:05:00Z"),
        namespace,
    )
    # An Event about something else of the same name is not this deployment's.
    stranger = {"apiVersion": "v1", "kind": "ConfigMap", "name": "huge", "namespace": namespace}
    await kube.create(
        k.EVENTS,
        event("c", stranger, "Unrelated", "not ours", 1, "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
        namespace,
    )

    async def scheduler_spoke() -> Any:
        reply = await api.get("/api/deployments/huge/events", namespace=namespace)
        assert reply.status == 200, reply
        rows = reply.body["events"]
        return rows if any(r["reason"] == "FailedScheduling" for r in rows) else None

    rows = await eventually(scheduler_spoke, 90, "the scheduler's FailedScheduling Event")
    failed = next(r for r in rows if r["reason"] == "FailedScheduling")
    assert failed["object"]["kind"] == "Pod" and failed["object"]["name"].startswith("huge-")
    assert failed["type"] == "Warning" and "Insufficient nvidia.com/gpu" in failed["message"]
    assert any(
        r["object"] == {"kind": "KubeFoundryDeployment", "name": "huge"} and r["source"]
        for r in rows
        if r["reason"] != "Tested"
    )
    merged = [r for r in rows if r["reason"] == "Tested"]
    assert merged == [
        {
            "type": "Normal",
            "reason": "Tested",
            "message": "same words",
            "object": {"kind": "KubeFoundryDeployment", "name": "huge"},
            "count": 5,
            "firstSeen": "2026-01-01T00:00:00Z",
            "lastSeen": "2026-01-01T00:05:00Z",
            "source": "test",
        }
    ]
    assert not [r for r in rows if r["reason"] == "Unrelated"]
    last_seen = [r["lastSeen"] for r in rows]
    assert last_seen == sorted(last_seen, reverse=True), "newest first"
    assert len((await api.get("/api/deployments/huge/events", namespace=namespace, limit="1")).body["events"]) == 1

    assert_error(await api.get("/api/deployments/nope/events", namespace=namespace), 404, "NOT_FOUND")
    assert_error(await api.get("/api/deployments/huge/events"), 400, "VALIDATION_ERROR")
    assert_error(await api.get("/api/deployments/huge/events", namespace=namespace, limit="0"), 400, "VALIDATION_ERROR")


async def test_manifest_and_scale(api: Api, kube: k.Kube, namespace: str) -> None:
    await kube.create(KFD, kfd("agg"), namespace)
    await kube.create(
        KFD, kfd("disagg", mode="disaggregated", prefill={"replicas": 1}, decode={"replicas": 2}), namespace
    )

    async def cached() -> bool:
        return (await api.get("/api/deployments/disagg", namespace=namespace)).status == 200

    await eventually(cached, 30, "the deployments in the API")
    reply = await api.get("/api/deployments/agg/manifest", namespace=namespace)
    assert reply.status == 200
    stored = reply.body["deployment"]
    assert stored["kind"] == "KubeFoundryDeployment" and stored["spec"]["modelId"] == "Qwen/Qwen3-0.6B"
    assert "managedFields" not in stored["metadata"] and stored["metadata"]["uid"]
    assert_error(await api.get("/api/deployments/nope/manifest", namespace=namespace), 404, "NOT_FOUND")

    scaled = await api.call(
        "PUT", "/api/deployments/agg/scale", params={"namespace": namespace}, json_body={"replicas": 3}
    )
    assert scaled.status == 200, scaled
    assert scaled.body["success"] is True and scaled.body["deployment"]["name"] == "agg"
    assert (await kube.get(KFD, "agg", namespace))["spec"]["replicas"] == 3

    async def desired_three() -> bool:  # at once without an operator; once it reports, with one
        return bool((await api.get("/api/deployments/agg", namespace=namespace)).body["replicas"]["desired"] == 3)

    await eventually(desired_three, 30, "the list to show 3 desired replicas")

    refused = await api.call(
        "PUT", "/api/deployments/disagg/scale", params={"namespace": namespace}, json_body={"replicas": 2}
    )
    body = assert_error(refused, 400, "VALIDATION_ERROR")
    assert "disaggregated" in body["error"] and "replicas" in str(body["details"])
    assert (await kube.get(KFD, "disagg", namespace))["spec"].get("replicas", 1) == 1
    for bad in ({"replicas": -1}, {"replicas": 65}, {"replicas": "2"}, {}, {"replicas": 1, "extra": 1}):
        reply = await api.call("PUT", "/api/deployments/agg/scale", params={"namespace": namespace}, json_body=bad)
        assert_error(reply, 400, "VALIDATION_ERROR")
    missing = await api.call(
        "PUT", "/api/deployments/nope/scale", params={"namespace": namespace}, json_body={"replicas": 1}
    )
    assert_error(missing, 404, "NOT_FOUND")
    no_type = await api.call(
        "PUT", "/api/deployments/agg/scale", params={"namespace": namespace}, data='{"replicas": 1}'
    )
    assert assert_error(no_type, 415, "VALIDATION_ERROR")["details"]["reason"] == "unsupported_media_type"


async def test_the_providerinstall_view(api: Api, kube: k.Kube) -> None:
    reply = await api.get("/api/installation/providers/dynamo/providerinstall")
    assert reply.status == 200
    stored = await kube.get_or_none(PROVIDER_INSTALLS, "dynamo")
    assert reply.body["exists"] is (stored is not None)
    if stored is not None:  # e.g. make dev's, on a developer's cluster
        view = reply.body["providerInstall"]
        assert view["generation"] == stored["metadata"]["generation"]
        assert "values" not in view
    assert_error(await api.get("/api/installation/providers/nope/providerinstall"), 404, "NOT_FOUND")


async def test_whoami_without_and_with_authentication(api: Api, kube: k.Kube, cluster: Cluster, namespace: str) -> None:
    assert (await api.get("/api/auth/whoami")).body == {"authEnabled": False, "username": None, "groups": []}
    secured = await start_api(kube, auth=KubernetesAuth(kube))
    try:
        assert_error(await secured.get("/api/auth/whoami"), 401, "UNAUTHENTICATED")
        cluster.kubectl("create", "serviceaccount", "nobody", "-n", namespace)
        token = cluster.kubectl("create", "token", "nobody", "-n", namespace, "--duration=10m").stdout.strip()
        reply = await secured.call("GET", "/api/auth/whoami", headers={"Authorization": f"Bearer {token}"})
        assert reply.status == 200, reply
        assert reply.body["authEnabled"] is True
        assert reply.body["username"] == f"system:serviceaccount:{namespace}:nobody"
        assert "system:serviceaccounts" in reply.body["groups"]
        assert token not in str(reply.body)
        bad = await secured.call("GET", "/api/auth/whoami", headers={"Authorization": "Bearer not-a-token"})
        assert_error(bad, 401, "UNAUTHENTICATED")
    finally:
        await secured.client.close()


@pytest.fixture
async def with_ui(kube: k.Kube, kubefoundry_crds: None, provider_crds: Path) -> AsyncIterator[Api]:
    assert (UI_BUILD / "index.html").is_file(), "the UI is not built: run make ui (make test does)"
    server = await start_api(kube, ui_dir=UI_BUILD)
    yield server
    await server.client.close()


async def fetch(api: Api, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    async with api.client.request(method, path) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def test_the_ui_is_served_with_its_security_and_cache_headers(with_ui: Api) -> None:
    status, headers, body = await fetch(with_ui, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "http" not in csp and "*" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Cache-Control"] == "no-cache"
    page = body.decode()
    # Everything the page loads comes from this server: hashed assets, no inline script.
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and all(a.startswith("/") and not a.startswith("//") for a in assets), assets
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), "an inline script would break the CSP"
    hashed = [a for a in assets if a.startswith("/assets/")]
    assert any(a.endswith(".js") for a in hashed) and any(a.endswith(".css") for a in hashed)
    for asset in hashed:
        assert re.search(r"-[A-Za-z0-9_-]{8,}\.(js|css)$", asset), f"{asset} has no content hash"
        status, headers, content = await fetch(with_ui, asset)
        assert status == 200 and content
        assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert headers["Content-Security-Policy"] == csp

    # Deep links open the app; the API keeps its own answers, JSON errors included.
    for link in ("/deployments/team-a/qwen", "/models", "/providers?x=1"):
        status, headers, content = await fetch(with_ui, link)
        assert (status, content) == (200, body), link
    assert (await with_ui.get("/api/health")).body == {"status": "ok"}
    assert_error(await with_ui.get("/api/no-such-thing"), 404, "NOT_FOUND")
    assert_error(await with_ui.call("POST", "/api/no-such-thing"), 404, "NOT_FOUND")
    assert_error(await with_ui.get("/assets/missing-0123456789.js"), 404, "NOT_FOUND")
    assert_error(await with_ui.get("/assets/..%2Fapi%2Fstatic%2Findex.html"), 404, "NOT_FOUND")
    assert_error(await with_ui.call("POST", "/deployments"), 405, "METHOD_NOT_ALLOWED")

"""What a web page could send behind the user's back is refused on every route (api/server.py's guard).

The state-changing routes are not listed here: the test walks the application's route table, so a
route added later is checked too. Path parameters are filled with names that do not exist, so a request
that gets past the guard changes nothing (it answers 404 or 400); a canary deployment shows that a
refused DELETE never reached its handler.
"""

# ruff: noqa: E402  (api_fixtures is registered for assertion rewriting before it is imported)
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psutil
import pytest

pytest.register_assert_rewrite("api_fixtures")

from api_fixtures import Api, Reply, api_process, assert_error, http_get, start_api

from harness import Cluster
from kubefoundry.api.server import SAFE_METHODS
from kubefoundry.operator.models.deployment import KFD
from kubefoundry.operator.runtime import kube as k
from support import kfd

pytest_plugins = ["api_fixtures"]

JSON_TYPE = {"Content-Type": "application/json"}
EVIL = "https://evil.example"


def state_changing_routes(api: Api) -> list[tuple[str, str]]:
    routes = []
    for route in api.client.server.app.router.routes():  # type: ignore[union-attr]
        canonical = route.resource.canonical if route.resource is not None else ""
        if route.method not in SAFE_METHODS and route.method != "*" and canonical.startswith("/api"):
            routes.append((route.method, canonical))
    return sorted(routes)


def concrete(path: str, name: str) -> str:
    return re.sub(r"\{[^}]+\}", name, path)


async def send(api: Api, method: str, path: str, namespace: str, headers: dict[str, str], body: Any = None) -> Reply:
    return await api.call(method, path, params={"namespace": namespace}, headers=headers, json_body=body)


def refused_for_origin(reply: Reply, origin: str) -> None:
    body = assert_error(reply, 403, "FORBIDDEN")
    assert body["details"] == {"reason": "origin_not_allowed", "origin": origin}, body


def passed_the_guard(reply: Reply) -> None:
    """The handler answered: not one of the guard's refusals (the inputs name nothing that exists)."""
    reason = reply.body.get("details", {}).get("reason") if reply.status >= 400 else None
    assert reason not in ("origin_not_allowed", "unsupported_media_type", "host_not_allowed"), reply
    assert reply.status in (200, 400, 404), reply


async def test_every_state_changing_route_refuses_cross_site_requests(api: Api, kube: k.Kube, namespace: str) -> None:
    routes = state_changing_routes(api)
    # The walk sees the routes that matter (and will see new ones).
    assert ("POST", "/api/installation/providers/{id}/uninstall") in routes
    assert ("DELETE", "/api/deployments/{name}") in routes
    assert {method for method, _ in routes} >= {"POST", "PUT", "DELETE"}

    await kube.create(KFD, kfd("canary", provider="dynamo"), namespace)
    own = api.base_url.rstrip("/")
    for method, template in routes:
        # The canary for DELETE: a refusal must leave it alone.
        path = concrete(template, "canary" if method == "DELETE" else "no-such-thing")
        for origin in (EVIL, "null", "http://localhost.evil.example:3001", own.replace("127.0.0.1", "127.0.0.2")):
            refused_for_origin(await send(api, method, path, namespace, {**JSON_TYPE, "Origin": origin}), origin)
        if method != "DELETE":
            # What fetch(url, {method: "POST", mode: "no-cors", body: "..."}) sends: no preflight, so no
            # Origin check by the browser; the server refuses anything but JSON.
            for headers, data in (
                ({"Content-Type": "text/plain"}, b"x"),
                ({"Content-Type": "text/plain", "Origin": own}, b"{}"),
                ({}, None),  # no body and no type at all
            ):
                reply = await api.call(method, path, params={"namespace": namespace}, headers=headers, data=data)
                body = assert_error(reply, 415, "VALIDATION_ERROR")
                assert body["details"]["reason"] == "unsupported_media_type", (method, path, body)
        if method == "DELETE":
            continue  # the canary stays until the end
        # The server's own origin, a development UI on localhost, and curl (no Origin) get through.
        for headers in ({**JSON_TYPE, "Origin": own}, {**JSON_TYPE, "Origin": "http://localhost:5173"}, JSON_TYPE):
            passed_the_guard(await send(api, method, path, namespace, headers, body={}))
    assert await kube.get_or_none(KFD, "canary", namespace) is not None, "a refused DELETE deleted the canary"

    # DELETE from the server's own page, or from curl, deletes.
    deleted = await send(api, "DELETE", "/api/deployments/canary", namespace, {"Origin": own})
    assert deleted.status == 200, deleted


async def test_same_origin_is_whatever_host_name_the_server_was_reached_by(api: Api, namespace: str) -> None:
    port = api.base_url.rstrip("/").rsplit(":", 1)[1]
    host = f"kubefoundry.internal:{port}"
    reply = await send(
        api, "PUT", "/api/settings", namespace, {**JSON_TYPE, "Host": host, "Origin": f"http://{host}"}, {}
    )
    passed_the_guard(reply)
    # Behind a TLS-terminating proxy the browser says https; the host is what counts.
    reply = await send(
        api,
        "PUT",
        "/api/settings",
        namespace,
        {**JSON_TYPE, "Host": "ui.example.com", "Origin": "https://ui.example.com"},
        {},
    )
    passed_the_guard(reply)
    for origin in (f"http://kubefoundry.internal:{int(port) + 1}", "http://kubefoundry.internal"):
        reply = await send(api, "PUT", "/api/settings", namespace, {**JSON_TYPE, "Host": host, "Origin": origin}, {})
        refused_for_origin(reply, origin)


async def test_configured_origins_may_change_state(kube: k.Kube, namespace: str) -> None:
    server = await start_api(kube, cors_origins=["https://ui.example.com"], allow_localhost_origins=False)
    try:
        ok = await send(
            server, "PUT", "/api/settings", namespace, {**JSON_TYPE, "Origin": "https://ui.example.com"}, {}
        )
        passed_the_guard(ok)
        assert ok.headers["Access-Control-Allow-Origin"] == "https://ui.example.com"
        origin = "http://localhost:5173"
        refused_for_origin(
            await send(server, "PUT", "/api/settings", namespace, {**JSON_TYPE, "Origin": origin}, {}), origin
        )
    finally:
        await server.client.close()


async def test_a_loopback_server_answers_only_its_own_host_names(kube: k.Kube) -> None:
    """DNS rebinding: a page at evil.example whose name now resolves to 127.0.0.1 is same-origin with us."""
    server = await start_api(kube, allowed_hosts=["kubefoundry.internal"])
    port = server.base_url.rstrip("/").rsplit(":", 1)[1]
    try:
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "kubefoundry.internal", "a.localhost"):
            assert (await server.call("GET", "/api/health", headers={"Host": host})).status == 200, host
        for method in ("GET", "POST"):
            reply = await server.call(
                method, "/api/deployments", headers={**JSON_TYPE, "Host": f"evil.example:{port}"}, json_body={}
            )
            body = assert_error(reply, 403, "FORBIDDEN")
            assert body["details"] == {"reason": "host_not_allowed", "host": f"evil.example:{port}"}
    finally:
        await server.client.close()


def test_the_server_listens_on_loopback_by_default(
    cluster: Cluster, kubefoundry_crds: None, provider_crds: Path
) -> None:
    with api_process("api-default-host", cluster.kubeconfig) as (proc, port):
        assert proc.proc is not None
        listening = {
            (c.laddr.ip, c.laddr.port)
            for c in psutil.Process(proc.proc.pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        }
        assert listening == {("127.0.0.1", port)}, listening
        status, body = http_get(f"http://127.0.0.1:{port}/api/health", host=f"rebound.example:{port}")
        assert status == 403 and b"host_not_allowed" in body, body

"""Fixtures and helpers for the REST API tests (loaded with ``pytest_plugins = ["api_fixtures"]``).

The API runs in-process (aiohttp's TestServer on a random port) against the real test cluster;
nothing about Kubernetes is mocked.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp.test_utils import TestClient, TestServer

from harness import BackgroundProcess, free_port
from kubefoundry.api.app import create_app
from kubefoundry.api.context import CONTEXT, ApiContext, Timing
from kubefoundry.operator.runtime import kube as k
from support import eventually

T = TypeVar("T")

# Short retries so the disconnect tests finish quickly; no reuse of installation checks.
FAST = Timing(sync_timeout=5.0, probe_timeout=2.0, install_ttl=0.0, min_retry=0.05, max_retry=0.5)

# The label Dynamo puts on every pod of a DynamoGraphDeployment (what DynamoProvider.pod_selector uses).
DYNAMO_POD_LABEL = "nvidia.com/dynamo-graph-deployment-name"


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


class Api:
    """A client of one in-process API server."""

    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client

    @property
    def context(self) -> ApiContext:
        return self.client.server.app[CONTEXT]  # type: ignore[union-attr]

    @property
    def base_url(self) -> str:
        return str(self.client.make_url("/"))

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, str] | None = None,
        data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        kwargs: dict[str, Any] = {"params": params, "headers": headers}
        if json_body is not None:
            kwargs["json"] = json_body
        elif data is not None:
            kwargs["data"] = data
        async with self.client.request(method, path, **kwargs) as resp:
            text = await resp.text()
            assert resp.content_type == "application/json", (resp.status, resp.content_type, text[:300])
            return Reply(resp.status, json.loads(text), dict(resp.headers))

    async def get(self, path: str, **params: str) -> Reply:
        return await self.call("GET", path, params=params or None)

    async def wait_synced(self, timeout: float = 30.0) -> None:
        async def synced() -> bool:
            return all(c.ready for c in self.context.caches)

        await eventually(synced, timeout, "the API's caches to sync")


async def start_api(kube: k.Kube, **kwargs: Any) -> Api:
    app = create_app(kube, timing=kwargs.pop("timing", FAST), **kwargs)
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1", port=0))
    await client.start_server()
    return Api(client)


def http_get(url: str, host: str | None = None) -> tuple[int, bytes]:
    """(status, body) of a plain GET; 0 when nothing answers. `host`: a Host header of the caller's choosing."""
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=2) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


@contextlib.contextmanager
def api_process(
    name: str, kubeconfig: str, *args: str, env: dict[str, str] | None = None
) -> Iterator[tuple[BackgroundProcess, int]]:
    """`python -m kubefoundry.api --port P *args` as a process of its own (its own logging, its own
    process-wide state), once it answers GET /api/health."""
    port = free_port()
    proc = BackgroundProcess(
        name, [sys.executable, "-m", "kubefoundry.api", "--port", str(port), *args], kubeconfig, env
    )
    proc.start()
    try:
        deadline = time.monotonic() + 30
        while http_get(f"http://127.0.0.1:{port}/api/health")[0] != 200:
            assert proc.running() and time.monotonic() < deadline, proc.log()
            time.sleep(0.1)
        yield proc, port
    finally:
        proc.stop()


def assert_error(reply: Reply, status: int, code: str) -> dict[str, Any]:
    """The one error envelope: exactly error, code and details; no trace anywhere."""
    assert reply.status == status, reply
    assert isinstance(reply.body, dict) and set(reply.body) == {"error", "code", "details"}, reply.body
    assert reply.body["code"] == code, reply.body
    assert isinstance(reply.body["error"], str) and reply.body["error"], reply.body
    details = reply.body["details"]
    assert isinstance(details, dict), reply.body
    # Per-field problems under "fields" (never an empty list), each exactly {field, message, type}.
    if "fields" in details:
        assert details["fields"] and all(set(f) == {"field", "message", "type"} for f in details["fields"]), details
    assert isinstance(details.get("reason", ""), str), details
    assert "Traceback" not in json.dumps(reply.body)
    return reply.body  # type: ignore[no-any-return]


def pod_manifest(name: str, labels: dict[str, str], *, gpus: int = 0, node: str | None = None) -> dict[str, Any]:
    resources = {"limits": {"nvidia.com/gpu": str(gpus)}} if gpus else {}
    spec: dict[str, Any] = {
        "containers": [{"name": "main", "image": "registry.invalid/kubefoundry/fake:1", "resources": resources}],
        "terminationGracePeriodSeconds": 0,
    }
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels}, "spec": spec}


@pytest.fixture(scope="session")
async def api(kube: k.Kube, kubefoundry_crds: None, provider_crds: Path) -> AsyncIterator[Api]:
    """One API server for the session (tests use their own namespaces)."""
    server = await start_api(kube)
    await server.wait_synced()
    yield server
    await server.client.close()


@pytest.fixture
def settings_namespace(namespace: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Settings go to this test's namespace instead of the shared operator namespace."""
    monkeypatch.setenv("KUBEFOUNDRY_NAMESPACE", namespace)
    return namespace

"""A misbehaving API server for tests: an HTTP proxy in front of the real one that can answer some
requests itself (410 Gone, 504, 503, ...) or cut watches short, and records every request it sees.

Use it with ``pytest_plugins = ["faulty_apiserver"]`` and the ``faulty`` fixture. The proxy forwards with the
test's own Kube client (so any kubeconfig the suite runs against works) and
serves plain HTTP on 127.0.0.1; `kubeconfig()` writes a kubeconfig that points a client at it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from kubefoundry.operator.runtime import kube as k


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, str]

    @property
    def watch(self) -> bool:
        return self.query.get("watch") == "true"


# A fault answers a request itself (a response) or lets it through (None).
Fault = Callable[[web.Request], Awaitable[web.StreamResponse | None]]


def status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
    }


def answer_watches(code: int, reason: str, message: str) -> Fault:
    """Every watch gets an HTTP error `code` (504 from a gateway, 403 after RBAC changed, ...)."""

    async def fault(request: web.Request) -> web.StreamResponse | None:
        if request.query.get("watch") != "true":
            return None
        return web.json_response(status_body(code, reason, message), status=code)

    return fault


def answer_everything(code: int, reason: str, message: str) -> Fault:
    """Every request gets an HTTP error `code`, as from an API server that is starting (503) or overloaded (429)."""

    async def fault(request: web.Request) -> web.StreamResponse | None:
        return web.json_response(status_body(code, reason, message), status=code)

    return fault


def expire_watches() -> Fault:
    """Every watch is accepted, then answered with the ERROR event of an expired resourceVersion."""

    async def fault(request: web.Request) -> web.StreamResponse | None:
        if request.query.get("watch") != "true":
            return None
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        await response.prepare(request)
        event = {"type": "ERROR", "object": status_body(410, "Expired", "too old resource version: 1 (2)")}
        await response.write(json.dumps(event).encode() + b"\n")
        await response.write_eof()
        return response

    return fault


def stall_watches(release: asyncio.Event) -> Fault:
    """Every watch is accepted and sends nothing (a partitioned watch) until `release` is set, then ends with
    the ERROR event of an expired resourceVersion: what a client sees when its watch was away for longer than
    the API server keeps history. Other requests pass through meanwhile."""

    async def fault(request: web.Request) -> web.StreamResponse | None:
        if request.query.get("watch") != "true":
            return None
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await release.wait()
        event = {"type": "ERROR", "object": status_body(410, "Expired", "too old resource version: 1 (2)")}
        await response.write(json.dumps(event).encode() + b"\n")
        await response.write_eof()
        return response

    return fault


class FaultyApiServer:
    def __init__(self, kube: k.Kube) -> None:
        self.kube = kube
        self.seen: list[Seen] = []
        self._fault: Fault | None = None
        self.cut_watches_after_events: int | None = None  # close each watch after this many events
        self._watching: dict[asyncio.BaseTransport, aiohttp.ClientResponse] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application(handler_args={"auto_decompress": False})
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        self.cut_open_watches()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def fault(self) -> Fault | None:
        return self._fault

    @fault.setter
    def fault(self, fault: Fault | None) -> None:
        """Applies to the next requests; watches already open are cut, so clients come back at once."""
        self._fault = fault
        self.cut_open_watches()

    def cut_open_watches(self) -> None:
        for transport, upstream in list(self._watching.items()):
            transport.abort()
            upstream.close()  # stops the handler reading the real watch
        self._watching.clear()

    def kubeconfig(self, path: Path) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "faulty", "cluster": {"server": f"http://127.0.0.1:{self.port}"}}],
            "users": [{"name": "anyone", "user": {}}],
            "contexts": [{"name": "faulty", "context": {"cluster": "faulty", "user": "anyone"}}],
            "current-context": "faulty",
        }
        path.write_text(yaml.safe_dump(config))
        return path

    def requests(self, path_part: str, *, since: int = 0, watch: bool | None = None) -> list[Seen]:
        return [s for s in self.seen[since:] if path_part in s.path and (watch is None or s.watch == watch)]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(Seen(request.method, request.path, dict(request.query)))
        if self._fault is not None:
            answered = await self._fault(request)
            if answered is not None:
                return answered
        body = await request.read() if request.body_exists else None
        upstream = await self.kube._call(  # the test client's auth and TLS, whatever the kubeconfig uses
            request.method,
            request.path,
            query=dict(request.query),
            body=json.loads(body) if body else None,
            content_type=request.headers.get("Content-Type"),
            timeout=aiohttp.ClientTimeout(total=None, sock_read=None),
        )
        watch = request.query.get("watch") == "true"
        if watch and request.transport is not None:
            self._watching[request.transport] = upstream
        try:
            response = web.StreamResponse(
                status=upstream.status,
                headers={"Content-Type": upstream.headers.get("Content-Type", "application/json")},
            )
            await response.prepare(request)
            events = 0
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
                events += chunk.count(b"\n")
                cut = self.cut_watches_after_events
                if watch and cut is not None and events >= cut and request.transport is not None:
                    # As a load balancer dropping long-lived connections would: a reset, not an end.
                    request.transport.abort()
                    return response
            await response.write_eof()
            return response
        except (ConnectionResetError, aiohttp.ClientConnectionResetError, aiohttp.ClientPayloadError):
            return web.Response(status=499)  # the client (or cut_open_watches) went away; nobody reads this
        finally:
            if request.transport is not None:
                self._watching.pop(request.transport, None)
            upstream.release()


@pytest.fixture
async def faulty(kube: k.Kube) -> AsyncIterator[FaultyApiServer]:
    """A FaultyApiServer in front of the test cluster, passing everything through until told otherwise."""
    server = FaultyApiServer(kube)
    await server.start()
    yield server
    await server.stop()


async def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)

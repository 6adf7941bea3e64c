"""Helpers of the browser tests: the API server as a process, the checks every page gets, a threaded proxy."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Page
from tcp_proxy import TcpProxy

from harness import REPO, BackgroundProcess, free_port

AXE = REPO / "ui" / "node_modules" / "axe-core" / "axe.min.js"
UI_BUILD = REPO / "api" / "static"
SCREENSHOTS = REPO / "build" / "ui-screenshots"
START_TIMEOUT = 60.0


# --- the API server serving the UI -----------------------------------------------------------------------


@dataclass
class UiServer:
    base: str
    process: BackgroundProcess

    def url(self, path: str) -> str:
        return self.base + path


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def start_server(
    name: str, kubeconfig: str, *args: str, env: dict[str, str] | None = None, ready: str = "/api/deployments"
) -> UiServer:
    """`python -m kubefoundry.api` on a free port; returns once `ready` answers 200 (or, with auth, 401)."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "kubefoundry.api",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--ui-dir",
        str(UI_BUILD),
        *args,
    ]
    proc = BackgroundProcess(name, argv, kubeconfig, env)
    proc.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while _status(base + ready) not in (200, 401):
        if not proc.running() or time.monotonic() > deadline:
            proc.stop()
            pytest.fail(f"the API server ({name}) did not start:\n{proc.log()[-3000:]}", pytrace=False)
        time.sleep(0.2)
    return UiServer(base, proc)


# --- checks on every page ----------------------------------------------------------------------------------


def check_page(page: Page, name: str) -> None:
    """No serious or critical axe-core violation on the page as it is now; a screenshot as an artifact."""
    page.wait_for_load_state("load")  # never "networkidle": the live stream stays open
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol: our CSP (rightly) refuses an injected <script>.
        page.evaluate(AXE.read_text() + "\n;true")
    result = page.evaluate(
        "async () => { const r = await axe.run(document, {resultTypes: ['violations']});"
        " return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))})); }"
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    assert not bad, f"accessibility violations on {name}:\n{json.dumps(bad, indent=1)}"


def fail_on_page_errors(page: Page) -> list[str]:
    """Collects uncaught errors of the page's scripts (a test asserts there were none)."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


# --- a proxy in front of the cluster, for a sync test ----------------------------------------------------------


class ThreadedProxy:
    """tests/tcp_proxy.TcpProxy on an event loop of its own thread (the browser tests are synchronous)."""

    def __init__(self, host: str, port: int) -> None:
        self.proxy = TcpProxy(host, port)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="tcp-proxy", daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.proxy.port

    def _run(self, coro: Any) -> None:
        asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def start(self) -> None:
        self._run(self.proxy.start())

    def stop(self) -> None:
        self._run(self.proxy.stop())

    def close(self) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

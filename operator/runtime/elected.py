"""Runs the kopf operator only while this replica leads (see leader.py).

A standby answers the liveness endpoint itself, so Kubernetes does not restart it for waiting. A leader
that stops renewing its Lease, for whatever reason, exits at once with status 1: a standby is about to
act, and a restart makes this one a standby. A leader that is stopped (SIGTERM) stops kopf, then releases
the Lease.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Any
from urllib.parse import urlsplit

import kopf
from aiohttp import web

from . import kube as k
from .leader import LeaderElector, LeaseTiming, default_identity

log = logging.getLogger(__name__)


async def _standby_liveness(endpoint: str) -> web.AppRunner:
    url = urlsplit(endpoint)

    async def alive(_: web.Request) -> web.Response:
        return web.json_response({"standby": True})

    app = web.Application()
    app.router.add_get(url.path or "/", alive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    # The host kopf binds for the same endpoint, so the probe reaches both alike.
    await web.TCPSite(runner, url.hostname or "localhost", url.port or 80).start()
    return runner


async def run_elected(
    *,
    lease_namespace: str,
    lease_name: str,
    liveness_endpoint: str | None,
    timing: LeaseTiming | None = None,
    **operator_kwargs: Any,
) -> None:
    kube = await k.Kube.connect()
    elector = LeaderElector(kube, lease_namespace, lease_name, default_identity(), timing)
    loop = asyncio.get_running_loop()
    # Set by SIGINT/SIGTERM until kopf installs its own handlers; kopf stops at once if it is already set.
    stop = asyncio.Event()
    acquiring = asyncio.ensure_future(elector.acquire())

    def on_signal() -> None:
        stop.set()
        acquiring.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        standby = await _standby_liveness(liveness_endpoint) if liveness_endpoint else None
        try:
            await acquiring
        except asyncio.CancelledError:
            if not stop.is_set():
                raise
        finally:
            if standby is not None:
                await standby.cleanup()  # frees the port for kopf's own liveness endpoint
        if stop.is_set():
            return

        operator = asyncio.ensure_future(
            kopf.operator(liveness_endpoint=liveness_endpoint, stop_flag=stop, **operator_kwargs)
        )
        holding = asyncio.ensure_future(elector.hold())
        await asyncio.wait({operator, holding}, return_when=asyncio.FIRST_COMPLETED)
        if holding.done():
            # However renewing ended, nobody renews any more: a standby will take over, so stop acting now.
            reason = "renewing was cancelled" if holding.cancelled() else holding.exception() or "renewing stopped"
            log.error("leader election: %s; exiting so that only one replica acts", reason)
            logging.shutdown()
            os._exit(1)
        holding.cancel()
        await asyncio.gather(holding, return_exceptions=True)  # no renewal in flight while releasing
        await operator  # re-raises what stopped kopf, after the Lease is released below
    finally:
        await elector.release()  # checks the holder: a no-op unless the Lease is ours
        await kube.close()

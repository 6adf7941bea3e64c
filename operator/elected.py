"""Runs the kopf operator only while this replica leads (see leader.py).

A standby answers the liveness endpoint itself, so Kubernetes does not restart it for waiting. A leader
that cannot renew its Lease exits at once with status 1: another replica may already be acting, and a
restart makes this one a standby. A leader that is stopped (SIGTERM) stops kopf, then releases the Lease.
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
from .leader import LeaderElector, LeadershipLost, LeaseTiming, default_identity

log = logging.getLogger(__name__)


async def _standby_liveness(endpoint: str) -> web.AppRunner:
    url = urlsplit(endpoint)

    async def alive(_: web.Request) -> web.Response:
        return web.json_response({"standby": True})

    app = web.Application()
    app.router.add_get(url.path or "/", alive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, url.hostname or "0.0.0.0", url.port or 80).start()
    return runner


async def _wait_for_leadership(elector: LeaderElector) -> bool:
    """Acquires the Lease; False if SIGINT/SIGTERM came first."""
    loop = asyncio.get_running_loop()
    acquiring = asyncio.ensure_future(elector.acquire())
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, acquiring.cancel)
    try:
        await acquiring
        return True
    except asyncio.CancelledError:
        if acquiring.cancelled():
            return False
        raise
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


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
    standby = await _standby_liveness(liveness_endpoint) if liveness_endpoint else None
    try:
        leading = await _wait_for_leadership(elector)
    finally:
        if standby is not None:
            await standby.cleanup()  # frees the port for kopf's own liveness endpoint
    if not leading:
        await kube.close()
        return

    operator = asyncio.ensure_future(kopf.operator(liveness_endpoint=liveness_endpoint, **operator_kwargs))
    holding = asyncio.ensure_future(elector.hold())
    await asyncio.wait({operator, holding}, return_when=asyncio.FIRST_COMPLETED)
    if holding.done() and isinstance(holding.exception(), LeadershipLost):
        log.error("leader election: %s; exiting so that only one replica acts", holding.exception())
        logging.shutdown()
        os._exit(1)
    holding.cancel()
    try:
        await operator  # re-raises what stopped kopf, after the Lease is released below
    finally:
        await elector.release()
        await kube.close()

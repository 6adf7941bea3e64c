"""create_app: the aiohttp application, wired to one Kubernetes client.

The application keeps no state of its own beyond watch-backed caches of what the cluster holds;
they start with the application and stop with it. The caller owns the Kube client.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from kubefoundry.operator.runtime import kube as k

from .auth import AUTH, KubernetesAuth
from .body import MAX_BODY_BYTES, MAX_BODY_KEY
from .context import CONTEXT, ApiContext, Timing
from .errors import error_middleware
from .openapi import build_document
from .routes import TABLES, operations
from .routes.docs import OPENAPI
from .server import CorsPolicy, HostPolicy, cors_middleware, guard_middleware
from .ui import add_ui_routes


def create_app(
    kube: k.Kube,
    *,
    cors_origins: Sequence[str] | None = None,
    allow_localhost_origins: bool = True,
    max_body_bytes: int = MAX_BODY_BYTES,
    timing: Timing | None = None,
    auth: KubernetesAuth | None = None,
    allowed_hosts: Sequence[str] | None = None,
    ui_dir: Path | None = None,
) -> web.Application:
    """`auth`: check each caller's token and RBAC (see auth.py); None serves everyone.
    `allowed_hosts`: answer only these Host names besides IP addresses and localhost (a server listening
    on loopback only, see server.py); None answers any.
    `ui_dir`: serve the web UI built there (see ui.py) at every path outside /api; None: the API only."""
    policy = CorsPolicy.from_list(cors_origins, allow_localhost=allow_localhost_origins)
    hosts = HostPolicy.from_list(allowed_hosts) if allowed_hosts is not None else None
    app = web.Application(
        client_max_size=max_body_bytes,
        # Outermost first: CORS headers on every answer, errors as the envelope, then the request guard.
        middlewares=[cors_middleware(policy), error_middleware, guard_middleware(policy, hosts)],
        # Bodies are decoded by server.read_json, which answers every coding problem in the envelope.
        handler_args={"auto_decompress": False},
    )
    app[MAX_BODY_KEY] = max_body_bytes
    if auth is not None:
        app[AUTH] = auth
    ctx = ApiContext(kube, timing or Timing())
    app[CONTEXT] = ctx
    for table in TABLES:
        table.register(app)
    if ui_dir is not None:
        add_ui_routes(app, ui_dir)
    document = build_document(operations(), authenticated=auth is not None)
    app[OPENAPI] = json.dumps(document, separators=(",", ":")).encode()

    async def start_caches(_: web.Application) -> None:
        ctx.start()

    async def stop_caches(_: web.Application) -> None:
        await ctx.stop()

    async def end_streams(_: web.Application) -> None:
        ctx.feed.close_streams()  # before aiohttp waits for open handlers to finish

    app.on_startup.append(start_caches)
    app.on_shutdown.append(end_streams)
    app.on_cleanup.append(stop_caches)
    return app

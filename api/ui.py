"""Serving the web UI (built from ui/ by Vite into api/static/): the app at every non-API path, its assets.

- ``/assets/<hashed name>``: the bundle's files, whose names change with their content, cached for a year.
- any other GET outside ``/api``: a file of the build's top folder (favicon), else ``index.html``, so that
  a deep link (``/deployments/team-a/qwen``) opens the app, which routes in the browser. Both revalidate.
- ``/api/...`` is never answered with the app: an unknown API path stays a JSON 404.

Every response carries a Content-Security-Policy that allows our own origin only: the app loads no
script, style, font or image from elsewhere and talks to nothing but this API.
"""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

from .endpoints import PREFIX

BUILD_DIR = Path(__file__).resolve().parent / "static"
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # what Vite writes; no '..', no '/'

NOT_BUILT = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>KubeFoundry</title></head>
<body><main><h1>The web UI is not built</h1><p>Run <code>make ui</code> (Node.js 20 or newer), then reload.
The REST API is served under <a href="/api/openapi.json">/api</a>.</p></main></body></html>"""


def _file(directory: Path, name: str) -> Path | None:
    if not _FILE_NAME.match(name):
        return None
    path = directory / name
    return path if path.is_file() else None


def _headers(cache_control: str) -> dict[str, str]:
    return {**HEADERS, "Cache-Control": cache_control}


def add_ui_routes(app: web.Application, directory: Path = BUILD_DIR) -> None:
    """Registers the UI's routes; call after the API's, whose paths take precedence."""
    assets = directory / "assets"

    async def asset(request: web.Request) -> web.StreamResponse:
        path = _file(assets, request.match_info["name"])
        if path is None:
            raise web.HTTPNotFound()  # a missing chunk must fail, not become index.html
        return web.FileResponse(path, headers=_headers(IMMUTABLE))

    async def page(request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        path = _file(directory, tail) if tail and "/" not in tail else None
        index = directory / "index.html"
        if path is None and not index.is_file():
            return web.Response(status=503, text=NOT_BUILT, content_type="text/html", headers=_headers("no-store"))
        return web.FileResponse(path or index, headers=_headers(REVALIDATE))

    app.router.add_get("/assets/{name}", asset, name="ui-asset")
    # Not under /api: an unknown API path (any method) stays the API's JSON 404 rather than the app or a 405.
    api = PREFIX.strip("/")
    app.router.add_get(f"/{{tail:(?!{api}(?:/|$)).*}}", page, name="ui-page")

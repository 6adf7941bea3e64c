"""Serve the REST API: ``python -m kubefoundry.api [--host H] [--port P] [--kubeconfig PATH]``.

Connects with KUBECONFIG (or --kubeconfig), else the in-cluster service account. The server starts
even when the API server cannot be reached and recovers by itself when it can be.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from kubefoundry.operator.runtime import kube as k

from .app import create_app
from .auth import KubernetesAuth
from .ui import BUILD_DIR

DEFAULT_PORT = 3001
# Requests made on behalf of a client give up sooner than the client library's default.
KUBE_REQUEST_TIMEOUT = 10.0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m kubefoundry.api", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("KUBEFOUNDRY_API_HOST", "0.0.0.0"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("KUBEFOUNDRY_API_PORT", DEFAULT_PORT)))
    parser.add_argument("--kubeconfig", default=None, help="default: $KUBECONFIG, else in-cluster config")
    parser.add_argument(
        "--cors-origins",
        default=os.environ.get("KUBEFOUNDRY_API_CORS_ORIGINS", ""),
        help="comma-separated browser origins allowed besides localhost ('*' for any)",
    )
    parser.add_argument(
        "--auth",
        choices=("none", "kubernetes"),
        default=os.environ.get("KUBEFOUNDRY_API_AUTH", "none"),
        help="kubernetes: every caller needs a bearer token the cluster accepts and the RBAC rights kubectl "
        "would need (TokenReview + SubjectAccessReview); none: anyone who reaches the port acts with the "
        "API's own rights (local development)",
    )
    parser.add_argument(
        "--ui-dir",
        type=Path,
        default=Path(os.environ.get("KUBEFOUNDRY_UI_DIR") or BUILD_DIR),
        help="the built web UI to serve at / (default: the one built into the package by `make ui`)",
    )
    parser.add_argument("--no-ui", action="store_true", help="serve the REST API only")
    parser.add_argument("--log-level", default=os.environ.get("KUBEFOUNDRY_LOG_LEVEL", "INFO"))
    return parser.parse_args(argv)


async def build(args: argparse.Namespace) -> web.Application:
    kube = await k.Kube.connect(args.kubeconfig, timeout=KUBE_REQUEST_TIMEOUT)
    app = create_app(
        kube,
        cors_origins=[o for o in args.cors_origins.split(",") if o.strip()],
        auth=KubernetesAuth(kube) if args.auth == "kubernetes" else None,
        ui_dir=None if args.no_ui else args.ui_dir,
    )

    async def close_kube(_: web.Application) -> None:
        await kube.close()

    app.on_cleanup.append(close_kube)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    web.run_app(build(args), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()

"""Serve the REST API: ``python -m kubefoundry.api [--host H] [--port P] [--kubeconfig PATH]``.

Connects with KUBECONFIG (or --kubeconfig), else the in-cluster service account. The server starts
even when the API server cannot be reached and recovers by itself when it can be. It listens on
127.0.0.1 unless told otherwise (--host 0.0.0.0 in a pod, behind --auth kubernetes).
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from kubefoundry.operator.runtime import kube as k

from .app import create_app
from .auth import KubernetesAuth
from .ui import BUILD_DIR

log = logging.getLogger("kubefoundry.api")

DEFAULT_PORT = 3001
DEFAULT_HOST = "127.0.0.1"
# Requests made on behalf of a client give up sooner than the client library's default.
KUBE_REQUEST_TIMEOUT = 10.0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m kubefoundry.api", description=__doc__)
    parser.add_argument(
        "--host",
        default=os.environ.get("KUBEFOUNDRY_API_HOST", DEFAULT_HOST),
        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every interface)",
    )
    parser.add_argument("--port", type=int, default=int(os.environ.get("KUBEFOUNDRY_API_PORT", DEFAULT_PORT)))
    parser.add_argument("--kubeconfig", default=None, help="default: $KUBECONFIG, else in-cluster config")
    parser.add_argument(
        "--cors-origins",
        default=os.environ.get("KUBEFOUNDRY_API_CORS_ORIGINS", ""),
        help="comma-separated browser origins allowed besides localhost ('*' for any)",
    )
    parser.add_argument(
        "--allowed-hosts",
        default=os.environ.get("KUBEFOUNDRY_API_ALLOWED_HOSTS", ""),
        help="comma-separated Host names answered besides IP addresses and localhost when listening on "
        "loopback only ('*' for any); other names are refused so that a web page cannot reach the API by "
        "rebinding its own DNS name to 127.0.0.1",
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


def loopback_only(host: str) -> bool:
    """Whether listening on `host` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


async def build(args: argparse.Namespace) -> web.Application:
    kube = await k.Kube.connect(args.kubeconfig, timeout=KUBE_REQUEST_TIMEOUT)
    local = loopback_only(args.host)
    if not local and args.auth == "none":
        log.warning(
            "listening on %s without --auth kubernetes: anyone who can reach port %s acts with this API's rights",
            args.host,
            args.port,
        )
    app = create_app(
        kube,
        cors_origins=[o for o in args.cors_origins.split(",") if o.strip()],
        auth=KubernetesAuth(kube) if args.auth == "kubernetes" else None,
        allowed_hosts=args.allowed_hosts.split(",") if local else None,
        ui_dir=None if args.no_ui else args.ui_dir,
    )

    async def close_kube(_: web.Application) -> None:
        await kube.close()

    app.on_cleanup.append(close_kube)
    return app


def one_line_for_bad_requests(record: logging.LogRecord) -> bool:
    """A request aiohttp's parser cannot read is the client's mistake: one line, no traceback."""
    exc = record.exc_info[1] if record.exc_info else None
    if isinstance(exc, HttpProcessingError):
        record.levelno, record.levelname = logging.INFO, "INFO"
        reason = (exc.message.strip().splitlines() or [""])[0].rstrip(":")
        record.msg, record.args = "%s: %s %s", (record.getMessage(), exc.code, reason)
        record.exc_info, record.exc_text = None, None
    return True


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.server").addFilter(one_line_for_bad_requests)
    web.run_app(build(args), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()

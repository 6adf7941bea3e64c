"""`python -m kubefoundry.operator`: runs the KubeFoundry operator (kopf)."""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

import kopf

# Importing the handler modules registers their handlers with kopf's default registry.
from . import deployment_handlers, providerinstall_handlers  # noqa: F401
from .providerinstall_instance import configure as configure_providerinstall_persistence


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # Project-specific finalizer and annotation names, so kopf's bookkeeping never collides with another
    # kopf operator (KubeFoundryDeployments need none: they are watched, not finalized).
    configure_providerinstall_persistence(settings)
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.posting.level = logging.WARNING


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="kubefoundry-operator", description=__doc__)
    parser.add_argument(
        "--namespace", "-n", action="append", default=[], help="watch only these namespaces (default: all)"
    )
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: KUBECONFIG or in-cluster)")
    parser.add_argument(
        "--liveness",
        default=os.environ.get("KUBEFOUNDRY_LIVENESS", ""),
        help="serve kopf's liveness probe here, e.g. http://0.0.0.0:8080/healthz",
    )
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig
    kopf.configure(verbose=args.verbose)
    namespaces: list[str] = args.namespace
    kopf.run(
        clusterwide=not namespaces,
        namespaces=namespaces,
        standalone=True,
        liveness_endpoint=args.liveness or None,
    )


if __name__ == "__main__":
    main()

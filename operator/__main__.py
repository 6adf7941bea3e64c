"""`python -m kubefoundry.operator`: runs the KubeFoundry operator (kopf)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from typing import Any

import kopf

# Importing the handler modules registers their handlers with kopf's default registry.
from .deployments import handlers as deployment_handlers  # noqa: F401
from .installs import handlers as install_handlers  # noqa: F401
from .runtime.elected import run_elected
from .runtime.instance import configure as configure_providerinstall_persistence
from .runtime.leader import LeaseTiming
from .runtime.settings import operator_namespace
from .runtime.transient import install_log_filter


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
    parser.add_argument(
        "--leader-elect",
        action="store_true",
        default=os.environ.get("KUBEFOUNDRY_LEADER_ELECT", "") in ("1", "true"),
        help="act only while holding a Lease, so several replicas can run (one acts, the others stand by)",
    )
    parser.add_argument(
        "--leader-election-namespace",
        default=operator_namespace(),
        help="namespace of the Lease (default: the operator's namespace, $KUBEFOUNDRY_NAMESPACE)",
    )
    parser.add_argument("--leader-election-id", default="kubefoundry-operator", help="name of the Lease")
    parser.add_argument("--lease-duration", type=float, default=LeaseTiming.lease_duration, help="seconds")
    parser.add_argument("--renew-deadline", type=float, default=LeaseTiming.renew_deadline, help="seconds")
    parser.add_argument("--retry-period", type=float, default=LeaseTiming.retry_period, help="seconds")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig
    kopf.configure(verbose=args.verbose)
    install_log_filter()
    namespaces: list[str] = args.namespace
    scope: dict[str, Any] = {"clusterwide": not namespaces, "namespaces": namespaces, "standalone": True}
    if not args.leader_elect:
        kopf.run(liveness_endpoint=args.liveness or None, **scope)
        return
    try:
        timing = LeaseTiming(args.lease_duration, args.renew_deadline, args.retry_period)
    except ValueError as exc:
        parser.error(str(exc))
    asyncio.run(
        run_elected(
            lease_namespace=args.leader_election_namespace,
            lease_name=args.leader_election_id,
            liveness_endpoint=args.liveness or None,
            timing=timing,
            **scope,
        )
    )


if __name__ == "__main__":
    main()

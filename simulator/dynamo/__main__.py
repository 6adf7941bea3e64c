"""`python -m kubefoundry.simulator.dynamo`: runs the Dynamo STAND-IN controller (not NVIDIA Dynamo)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path

from kubefoundry.operator.runtime import kube as k

from .admission import DEFAULT_ADMISSION_POLICY
from .controller import DynamoStandIn, Options

log = logging.getLogger(__name__)


async def amain(kubeconfig: str | None, options: Options) -> None:
    kube = await k.Kube.connect(kubeconfig)
    standin = DynamoStandIn(kube, options)
    main_task = asyncio.create_task(standin.run())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, main_task.cancel)
    try:
        await main_task
    except asyncio.CancelledError:
        log.info("stopping")
    finally:
        await kube.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m kubefoundry.simulator.dynamo",
        description="Dynamo STAND-IN controller (not NVIDIA Dynamo) for local development and tests.",
    )
    parser.add_argument(
        "--kubeconfig",
        default=os.environ.get("KUBECONFIG"),
        help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config or in-cluster)",
    )
    parser.add_argument("--workers", type=int, default=4, help="concurrent reconciles (default 4)")
    parser.add_argument(
        "--admission-policy",
        type=Path,
        default=Path(os.environ.get("KUBEFOUNDRY_STANDIN_ADMISSION_POLICY") or DEFAULT_ADMISSION_POLICY),
        help="ValidatingAdmissionPolicy YAML to server-side apply at startup (default: %(default)s)",
    )
    parser.add_argument(
        "--no-admission-policy",
        action="store_true",
        help="do not apply the admission policy (Dynamo's update rules then go unenforced)",
    )
    parser.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s dynamo-standin: %(message)s",
    )
    policy = None if args.no_admission_policy else args.admission_policy
    if policy is not None and not policy.is_file():
        parser.error(f"admission policy {policy} not found (use --admission-policy or --no-admission-policy)")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(amain(args.kubeconfig, Options(workers=args.workers, admission_policy=policy)))


if __name__ == "__main__":
    main()

"""Dynamo's webhook update rules for DGDs, enforced by the API server instead of a webhook (notes §1.4).

The rules live in admission-policy.yaml next to this module (a ValidatingAdmissionPolicy and its
binding, the reviewable source); the stand-in server-side applies that file at startup, so it needs no
webhook certificates.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import yaml

from kubefoundry.operator.runtime import kube as k

from .names import DGDS, FIELD_MANAGER

log = logging.getLogger(__name__)

VALIDATING_ADMISSION_POLICIES = k.Resource(
    "admissionregistration.k8s.io",
    "v1",
    "validatingadmissionpolicies",
    "ValidatingAdmissionPolicy",
    namespaced=False,
)
VALIDATING_ADMISSION_POLICY_BINDINGS = k.Resource(
    "admissionregistration.k8s.io",
    "v1",
    "validatingadmissionpolicybindings",
    "ValidatingAdmissionPolicyBinding",
    namespaced=False,
)
ADMISSION_KINDS = {
    "ValidatingAdmissionPolicy": VALIDATING_ADMISSION_POLICIES,
    "ValidatingAdmissionPolicyBinding": VALIDATING_ADMISSION_POLICY_BINDINGS,
}

DEFAULT_ADMISSION_POLICY = Path(__file__).resolve().parent / "admission-policy.yaml"


async def apply_admission_policy(kube: k.Kube, path: Path) -> None:
    """Server-side applies every policy and binding in the YAML file at `path`."""
    text = await asyncio.to_thread(path.read_text)
    docs = [d for d in yaml.safe_load_all(text) if d]
    for doc in docs:
        res = ADMISSION_KINDS.get(doc.get("kind", ""))
        if res is None:
            raise ValueError(f"{path}: unexpected kind {doc.get('kind')!r}")
        await kube.apply(res, doc, field_manager=FIELD_MANAGER)
        log.info("applied %s %s from %s", doc["kind"], doc["metadata"]["name"], path)


async def wait_admission_policy_active(kube: k.Kube, within: float = 30.0) -> bool:
    """The API server loads policies asynchronously: probe with a dry-run DGD without services until
    it is rejected by the policy (nothing is stored)."""
    probe = {
        "apiVersion": DGDS.api_version,
        "kind": DGDS.kind,
        "metadata": {"generateName": "dynamo-standin-policy-probe-", "namespace": "default"},
        "spec": {"services": {}},
    }
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        try:
            await kube.create(DGDS, probe, "default", dry_run=True)
        except k.NotFound:
            log.warning("no DynamoGraphDeployment CRD: cannot probe the admission policy")
            return False
        except k.KubeError as exc:
            if "spec.services must have at least one service" in exc.message:
                return True
            log.debug("admission probe: %s", exc)
        except k.ClusterUnavailable as exc:
            log.debug("admission probe: %s", exc)
        await asyncio.sleep(0.25)
    log.warning("the admission policy was not enforced after %.0fs", within)
    return False

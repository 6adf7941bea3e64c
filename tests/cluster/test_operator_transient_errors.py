"""An API server that answers 503 for a while (as one that is starting does) costs the operator one
readable WARNING line per retry, no traceback, and the operator carries on afterwards.

Before: a full traceback for each transient 503 (74 after one `cluster.sh up`). The operator runs as a
process, watching this test's namespace only, through a proxy in front of the real API server
(faulty_apiserver.py) that answers every request with the API server's own start-up 503 for a few seconds.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path
from typing import Any

from faulty_apiserver import FaultyApiServer, answer_everything

from harness import BackgroundProcess
from kubefoundry.operator.models.deployment import KFD
from kubefoundry.operator.runtime import kube as k
from kubefoundry.operator.runtime.instance import INSTANCE_ENV
from support import eventually, kfd

pytest_plugins = ["faulty_apiserver"]

STARTING = "the request has been made before all known HTTP paths have been installed, please try again"
OUTAGE_S = 5.0


async def _reconciled(kube: k.Kube, namespace: str, name: str) -> dict[str, Any] | None:
    obj = await kube.get_or_none(KFD, name, namespace)
    status = (obj or {}).get("status") or {}
    generation = (obj or {}).get("metadata", {}).get("generation")
    return obj if generation is not None and status.get("observedGeneration") == generation else None


async def test_a_starting_api_server_is_one_warning_line_per_retry(
    faulty: FaultyApiServer, kube: k.Kube, namespace: str, kubefoundry_crds: None, provider_crds: Path, tmp_path: Path
) -> None:
    instance = f"test-{uuid.uuid4().hex[:6]}"
    operator = BackgroundProcess(
        "operator-transient",
        [sys.executable, "-m", "kubefoundry.operator", "--namespace", namespace],
        str(faulty.kubeconfig(tmp_path / "faulty.kubeconfig")),
        {"KUBEFOUNDRY_RESYNC_SECONDS": "1", INSTANCE_ENV: instance},
    )
    operator.start()
    try:
        # Labelled for this operator's instance alone: no other operator (the session's) reconciles it, so the
        # first reconcile proves this one runs its controller and the outage meets its reconciles.
        await kube.create(KFD, kfd("steady", instance=instance, provider="dynamo"), namespace)
        await eventually(lambda: _reconciled(kube, namespace, "steady"), 60, "this operator's first reconcile")

        before = len(operator.log())
        faulty.fault = answer_everything(503, "ServiceUnavailable", STARTING)
        await asyncio.sleep(OUTAGE_S)
        faulty.fault = None
        during = operator.log()[before:]

        await kube.merge_patch(KFD, "steady", {"spec": {"replicas": 2}}, namespace)
        await eventually(lambda: _reconciled(kube, namespace, "steady"), 60, "a reconcile after the outage")
        assert operator.running(), operator.log()
    finally:
        operator.stop()
    lines = [line for line in during.splitlines() if line.strip()]
    transient = [line for line in lines if "503" in line]
    print(
        f"{len(transient)} lines for {OUTAGE_S:.0f} s of 503 answers; the longest has {max(map(len, lines))} characters"
    )
    assert transient, during  # the outage was seen (reconciles every second, kopf's watches)
    assert "Traceback" not in during, during
    assert all("WARNING" in line for line in transient), during
    assert all(len(line) < 400 for line in lines), during  # readable: no dumped Status objects
    assert any("reconcile" in line and STARTING in line for line in transient), during

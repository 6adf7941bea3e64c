"""A deployment deleted while the operator's watches were away (then expired: 410 Gone) is not brought back.

After a 410 kopf relists and replays what exists, but sends no DELETED for what vanished meanwhile. Before:
the deployment stayed in the operator's cache for ever, and every resync re-created its DynamoGraphDeployment
with the dead owner's uid, which the garbage collector deleted again (a re-create a second here). The operator
runs as a process of its own instance, watching this test's namespace through a proxy in front of the real
API server (faulty_apiserver.py) that holds every watch silent during the gap and then expires it.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

from faulty_apiserver import FaultyApiServer, stall_watches

from harness import BackgroundProcess
from kubefoundry.operator.models.deployment import KFD
from kubefoundry.operator.runtime import kube as k
from kubefoundry.operator.runtime.instance import INSTANCE_ENV
from support import DGD, eventually, kfd

pytest_plugins = ["faulty_apiserver"]

WINDOW_S = 6.0  # six resyncs of the operator below


async def _recreations(kube: k.Kube, namespace: str, name: str, seconds: float) -> list[str]:
    """The uids of every DynamoGraphDeployment `name` created in `namespace` during the next `seconds`."""
    version = (await kube.list(DGD, namespace))["metadata"]["resourceVersion"]
    seen: list[str] = []

    async def follow() -> None:
        async for event in kube.watch(DGD, namespace, resource_version=version, timeout_seconds=int(seconds) + 5):
            obj = event["object"]
            if event["type"] == "ADDED" and obj["metadata"]["name"] == name:
                seen.append(obj["metadata"]["uid"])

    try:
        await asyncio.wait_for(follow(), seconds)
    except TimeoutError:
        pass
    return seen


async def test_a_deployment_deleted_during_a_watch_gap_stays_deleted(
    faulty: FaultyApiServer, kube: k.Kube, namespace: str, kubefoundry_crds: None, provider_crds: Path, tmp_path: Path
) -> None:
    instance = f"test-{uuid.uuid4().hex[:6]}"
    operator = BackgroundProcess(
        "operator-watch-gap",
        [sys.executable, "-m", "kubefoundry.operator", "--namespace", namespace],
        str(faulty.kubeconfig(tmp_path / "faulty.kubeconfig")),
        {"KUBEFOUNDRY_RESYNC_SECONDS": "1", INSTANCE_ENV: instance},
    )
    operator.start()
    release = asyncio.Event()
    try:
        for name in ("ghost", "kept"):
            await kube.create(KFD, kfd(name, instance=instance, provider="dynamo"), namespace)
        for name in ("ghost", "kept"):
            await eventually(lambda n=name: kube.get_or_none(DGD, n, namespace), 60, f"the DGD of {name}")

        faulty.fault = stall_watches(release)  # open watches are cut; the ones kopf opens next hear nothing
        await kube.delete(KFD, "ghost", namespace)

        async def collected() -> bool:
            return await kube.get_or_none(KFD, "ghost", namespace) is None

        await eventually(collected, 30, "the deletion of the KubeFoundryDeployment")
        await asyncio.sleep(2)  # resyncs during the gap
        faulty.fault = None
        release.set()  # the silent watches now expire: kopf relists, and ghost is not in the list

        recreated = await _recreations(kube, namespace, "ghost", WINDOW_S)
        assert operator.running(), operator.log()[-4000:]
        kept = await kube.get(DGD, "kept", namespace)
    finally:
        release.set()
        operator.stop()
    print(f"DynamoGraphDeployment of the deleted deployment re-created {len(recreated)} times in {WINDOW_S:.0f} s")
    assert recreated == [], operator.log()[-4000:]
    assert await kube.get_or_none(DGD, "ghost", namespace) is None
    assert kept["metadata"]["ownerReferences"][0]["name"] == "kept"  # the other deployment is still served

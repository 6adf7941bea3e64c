"""Several operator replicas with --leader-elect: one acts, the others stand by and take over.

Runs on a local cluster of its own: the session's operator watches the whole shared cluster, so which
replica reconciled a deployment could not be told apart there. Skipped against a KUBECONFIG cluster.
Short lease timings keep the test fast; the defaults are controller-runtime's (15 s / 10 s / 2 s).
"""

from __future__ import annotations

import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from harness import (
    BackgroundProcess,
    Cluster,
    dedicated_local_cluster,
    free_port,
    install_kubefoundry_crds,
    install_provider_crds,
)
from kubefoundry.operator.models.deployment import KFD
from kubefoundry.operator.runtime import kube as k
from kubefoundry.operator.runtime.leader import LEASES
from support import DGD, eventually, kfd

NAME = "kf-leader"
LEASE_NS = "default"
LEASE = "kubefoundry-operator"
LEASE_DURATION = 6.0
TIMING = ["--lease-duration", str(LEASE_DURATION), "--renew-deadline", "4", "--retry-period", "1"]
LEADS = re.compile(r"leader election: (\S+) now leads")


@pytest.fixture(scope="module")
def own_cluster(cluster: Cluster) -> Iterator[Cluster]:
    if not cluster.local:
        pytest.skip("needs a cluster where no other KubeFoundry operator runs; only on the local simulated cluster")
    with dedicated_local_cluster(NAME) as own:
        install_kubefoundry_crds(own)
        install_provider_crds(own, ("dynamo",))
        own.kubectl("create", "namespace", "team-a")
        yield own


@pytest.fixture
async def own_kube(own_cluster: Cluster) -> AsyncIterator[k.Kube]:
    client = await k.Kube.connect(own_cluster.kubeconfig)
    yield client
    await client.close()


class Replica:
    def __init__(self, cluster: Cluster, name: str) -> None:
        self.port = free_port()
        argv = [sys.executable, "-m", "kubefoundry.operator", "--leader-elect", *TIMING]
        argv += ["--leader-election-namespace", LEASE_NS, "--liveness", f"http://127.0.0.1:{self.port}/healthz"]
        self.process = BackgroundProcess(name, argv, cluster.kubeconfig, {"KUBEFOUNDRY_RESYNC_SECONDS": "15"})

    def identity(self) -> str | None:
        found = LEADS.findall(self.process.log())
        return found[-1] if found else None

    async def liveness(self) -> tuple[int, Any]:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{self.port}/healthz") as reply:
                return reply.status, await reply.text()

    async def alive(self) -> bool:
        try:
            return (await self.liveness())[0] == 200
        except aiohttp.ClientError:
            return False


@pytest.fixture
def replicas(own_cluster: Cluster) -> Iterator[list[Replica]]:
    started = [Replica(own_cluster, f"operator-{n}") for n in ("a", "b")]
    for replica in started:
        replica.process.start()
    yield started
    for replica in started:
        if replica.process.running():
            assert replica.process.proc is not None
            replica.process.proc.send_signal(signal.SIGCONT)
            replica.process.stop()


async def holder(kube: k.Kube) -> str | None:
    lease = await kube.get_or_none(LEASES, LEASE, LEASE_NS)
    return ((lease or {}).get("spec") or {}).get("holderIdentity")


async def leader_among(kube: k.Kube, replicas: list[Replica], timeout: float) -> Replica:
    async def find() -> Replica | None:
        current = await holder(kube)
        return next((r for r in replicas if current and r.process.running() and r.identity() == current), None)

    return await eventually(find, timeout, what="one replica to hold the lease")


async def child_of(kube: k.Kube, name: str, timeout: float) -> dict[str, Any]:
    await kube.create(KFD, kfd(name, instance=None, engine="vllm"), "team-a")  # the replicas run without one
    return await eventually(lambda: kube.get_or_none(DGD, name, "team-a"), timeout, what=f"the DGD of {name}")


async def test_one_replica_leads_and_a_standby_takes_over(
    own_cluster: Cluster, own_kube: k.Kube, replicas: list[Replica]
) -> None:
    leader = await leader_among(own_kube, replicas, 60)
    standby = next(r for r in replicas if r is not leader)
    await child_of(own_kube, "first", 60)
    # The standby answers its liveness probe, and has not started kopf.
    assert await standby.liveness() == (200, '{"standby": true}')
    assert standby.identity() is None and "kopf" not in standby.process.log(), standby.process.log()

    # A leader that dies (SIGKILL: no release) is replaced once its lease has expired.
    leader.process.kill()
    killed_at = time.monotonic()
    new_leader = await leader_among(own_kube, [standby], 30)
    assert time.monotonic() - killed_at < LEASE_DURATION + 8
    await child_of(own_kube, "second", 60)

    # A leader stopped cleanly (SIGTERM) releases the lease for the next one.
    successor = Replica(own_cluster, "operator-c")
    replicas.append(successor)
    successor.process.start()
    await eventually(successor.alive, 30, what="the new standby's liveness endpoint")
    new_leader.process.stop()
    assert new_leader.process.proc is not None and new_leader.process.proc.returncode == 0, new_leader.process.log()
    assert "released lease" in new_leader.process.log()
    await leader_among(own_kube, [successor], 30)
    await child_of(own_kube, "third", 60)


async def test_a_frozen_leader_is_deposed_and_exits_when_it_wakes(own_kube: k.Kube, replicas: list[Replica]) -> None:
    leader = await leader_among(own_kube, replicas, 60)
    standby = next(r for r in replicas if r is not leader)
    assert leader.process.proc is not None
    leader.process.proc.send_signal(signal.SIGSTOP)  # a paused VM, a long GC pause, a partitioned node
    await leader_among(own_kube, [standby], 30)

    leader.process.proc.send_signal(signal.SIGCONT)
    await eventually(lambda: _exited(leader), 30, what="the deposed leader to exit")
    assert leader.process.proc.returncode == 1
    assert "exiting so that only one replica acts" in leader.process.log()
    assert await holder(own_kube) == standby.identity()


async def _exited(replica: Replica) -> bool:
    return not replica.process.running()

"""A deployment created before its provider exists waits clearly, and runs once a ProviderInstall
installs the provider (helm, the local stand-in dynamo-platform chart with the real Dynamo CRDs).

This needs a cluster without the Dynamo CRDs, so it brings up a second local cluster of its own
(removing a CRD from a shared cluster would delete every object of that kind). Against a cluster
named by KUBECONFIG it is skipped for the same reason.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from harness import BackgroundProcess, Cluster, dedicated_local_cluster, install_kubefoundry_crds, operator_env
from kubefoundry.operator.models.deployment import KFD
from kubefoundry.operator.models.providerinstall import RESOURCE as PROVIDER_INSTALL
from kubefoundry.operator.runtime import kube as k
from support import condition, events_for, eventually, kfd, wait_for_phase

NAME = "kf-bare"


@pytest.fixture(scope="module")
def bare_cluster(cluster: Cluster) -> Iterator[Cluster]:
    if not cluster.local:
        pytest.skip("needs a cluster without the Dynamo CRDs; only run on the local simulated cluster")
    with dedicated_local_cluster(NAME) as bare:
        install_kubefoundry_crds(bare)
        yield bare


@pytest.fixture(scope="module")
async def bare_kube(bare_cluster: Cluster) -> AsyncIterator[k.Kube]:
    client = await k.Kube.connect(bare_cluster.kubeconfig)
    yield client
    await client.close()


async def test_deployment_waits_for_the_provider_and_runs_after_its_install(
    bare_cluster: Cluster, bare_kube: k.Kube, local_charts: Path
) -> None:
    operator = BackgroundProcess(
        "operator-bare",
        [sys.executable, "-m", "kubefoundry.operator"],
        bare_cluster.kubeconfig,
        operator_env(local_charts),
    )
    standin = BackgroundProcess(
        "standin-bare", [sys.executable, "-m", "kubefoundry.simulator.dynamo"], bare_cluster.kubeconfig
    )
    bare_cluster.kubectl("create", "namespace", "team-a")
    operator.start()
    try:
        await bare_kube.create(KFD, kfd("early", instance=None, engine="vllm"), "team-a")

        async def waiting() -> dict[str, object] | None:
            obj = await bare_kube.get(KFD, "early", "team-a")
            return obj if condition(obj, "ProviderInstalled").get("status") == "False" else None

        obj = await eventually(waiting, 60, what="ProviderInstalled=False")
        installed = condition(obj, "ProviderInstalled")
        assert installed["reason"] == "ProviderNotInstalled"
        assert "dynamographdeployments.nvidia.com" in installed["message"]
        assert obj["status"]["phase"] == "Pending"
        assert any(e["reason"] == "ProviderNotInstalled" for e in await events_for(bare_kube, "team-a", "early"))
        assert operator.running(), operator.log()

        # The provider arrives through a ProviderInstall: helm installs the chart (its CRDs and its
        # operator Deployment); the stand-in then plays that operator.
        await bare_kube.create(
            PROVIDER_INSTALL,
            {
                "apiVersion": "kubefoundry.io/v1alpha1",
                "kind": "ProviderInstall",
                "metadata": {"name": "dynamo"},
                "spec": {"provider": "dynamo", "chartSource": {"localPath": str(local_charts)}},
            },
        )

        async def installed() -> dict[str, object] | None:
            pi = await bare_kube.get(PROVIDER_INSTALL, "dynamo")
            return pi if (pi.get("status") or {}).get("installed") else None

        pi = await eventually(installed, 120, what="ProviderInstall installed")
        assert pi["status"]["crdInstalled"] and pi["status"]["operatorInstalled"]
        standin.start()
        obj = await wait_for_phase(bare_kube, "team-a", "early", "Running", timeout=120)
        assert condition(obj, "ProviderInstalled")["status"] == "True"
        assert condition(obj, "Ready")["status"] == "True"
        helm_list = operator.log()
        assert "Traceback" not in helm_list, helm_list[-3000:]
    finally:
        operator.stop()
        standin.stop()

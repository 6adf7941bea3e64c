"""The local cluster behaves like a real GPU cluster: scheduler, controllers, GC, CRD validation."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from kubefoundry.operator.runtime import kube as k
from support import DGD, condition, eventually, vllm_agg


def gpu_pod(name: str, gpus: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "registry.invalid/engine:1",
                    "resources": {"limits": {"nvidia.com/gpu": str(gpus)}},
                }
            ]
        },
    }


async def test_pod_asking_for_one_gpu_runs_ready_on_a_gpu_node(kube: k.Kube, namespace: str) -> None:
    await kube.create(k.PODS, gpu_pod("one-gpu", 1), namespace)

    async def ready() -> dict[str, Any] | None:
        pod = await kube.get(k.PODS, "one-gpu", namespace)
        return pod if condition(pod, "Ready").get("status") == "True" else None

    pod = await eventually(ready, what="pod Ready")
    assert pod["status"]["phase"] == "Running"
    node = await kube.get(k.NODES, pod["spec"]["nodeName"])
    assert node["metadata"]["labels"]["nvidia.com/gpu.present"] == "true"
    assert int(node["status"]["allocatable"]["nvidia.com/gpu"]) >= 1


async def test_pod_asking_for_nine_gpus_stays_pending_with_the_schedulers_reason(kube: k.Kube, namespace: str) -> None:
    await kube.create(k.PODS, gpu_pod("nine-gpus", 9), namespace)

    async def unschedulable() -> dict[str, Any] | None:
        pod = await kube.get(k.PODS, "nine-gpus", namespace)
        cond = condition(pod, "PodScheduled")
        return cond if cond.get("reason") == "Unschedulable" else None

    cond = await eventually(unschedulable, what="PodScheduled=False/Unschedulable")
    assert cond["status"] == "False"
    assert "Insufficient nvidia.com/gpu" in cond["message"]
    await asyncio.sleep(2)
    pod = await kube.get(k.PODS, "nine-gpus", namespace)
    assert pod["status"]["phase"] == "Pending"
    assert not pod["spec"].get("nodeName")


async def test_deployment_gets_replicaset_and_pods_and_gc_deletes_them(kube: k.Kube, namespace: str) -> None:
    labels = {"app": "web"}
    await kube.create(
        k.DEPLOYMENTS,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "main", "image": "registry.invalid/web:1"}]},
                },
            },
        },
        namespace,
    )

    async def available() -> bool:
        dep = await kube.get(k.DEPLOYMENTS, "web", namespace)
        return dep.get("status", {}).get("availableReplicas") == 2

    await eventually(available, what="Deployment available")
    rs = (await kube.list(k.REPLICASETS, namespace, label_selector="app=web"))["items"]
    assert len(rs) == 1
    assert rs[0]["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    pods = (await kube.list(k.PODS, namespace, label_selector="app=web"))["items"]
    assert len(pods) == 2
    assert all(p["metadata"]["ownerReferences"][0]["name"] == rs[0]["metadata"]["name"] for p in pods)

    await kube.delete(k.DEPLOYMENTS, "web", namespace)

    async def collected() -> bool:
        rs_left = (await kube.list(k.REPLICASETS, namespace, label_selector="app=web"))["items"]
        pods_left = (await kube.list(k.PODS, namespace, label_selector="app=web"))["items"]
        return not rs_left and not pods_left

    await eventually(collected, what="garbage collection of ReplicaSet and pods")


async def test_dynamo_crds_validate_like_the_real_schema(kube: k.Kube, namespace: str, provider_crds: object) -> None:
    crd = await kube.get(k.CRDS, "dynamographdeployments.nvidia.com")
    assert any(c["type"] == "Established" and c["status"] == "True" for c in crd["status"]["conditions"])

    created = await kube.create(DGD, vllm_agg("good"), namespace)
    assert created["spec"]["services"]["VllmWorker"]["resources"]["limits"]["gpu"] == "1"

    # A wrongly typed field is rejected with the schema's own message.
    bad_type = vllm_agg("bad-type")
    bad_type["spec"]["services"]["VllmWorker"]["replicas"] = "two"
    with pytest.raises(k.KubeError) as rejected:
        await kube.create(DGD, bad_type, namespace)
    assert rejected.value.status == 422
    assert "replicas" in rejected.value.message

    # An enum outside the schema's values is rejected.
    bad_enum = vllm_agg("bad-enum")
    bad_enum["spec"]["backendFramework"] = "llamacpp"
    with pytest.raises(k.KubeError) as rejected_enum:
        await kube.create(DGD, bad_enum, namespace)
    assert rejected_enum.value.status == 422
    assert "backendFramework" in rejected_enum.value.message

    # Unknown fields: the structural schema prunes them (no x-kubernetes-preserve-unknown-fields),
    # and strict field validation turns the pruning into a rejection.
    unknown = vllm_agg("unknown-field")
    unknown["spec"]["services"]["VllmWorker"]["gpus"] = 1
    unknown["spec"]["workers"] = {"oops": True}
    pruned = await kube.create(DGD, unknown, namespace)
    assert "workers" not in pruned["spec"]
    assert "gpus" not in pruned["spec"]["services"]["VllmWorker"]
    strict = vllm_agg("strict-unknown")
    strict["spec"]["workers"] = {"oops": True}
    with pytest.raises(k.KubeError) as strict_rejected:
        await kube.request("POST", DGD.path(namespace), body=strict, query={"fieldValidation": "Strict"})
    assert 'unknown field "spec.workers"' in strict_rejected.value.message


def test_kubectl_talks_to_the_local_cluster(cluster: Any) -> None:
    nodes = json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    gpu_nodes = [n for n in nodes if n["metadata"]["labels"].get("nvidia.com/gpu.present") == "true"]
    assert len(gpu_nodes) >= 1
    for node in gpu_nodes:
        labels = node["metadata"]["labels"]
        for key in ("nvidia.com/gpu.product", "nvidia.com/gpu.memory", "nvidia.com/gpu.count"):
            assert labels.get(key), key

"""The Dynamo STAND-IN controller against the real API server, controller-manager and scheduler.

Each test writes a DynamoGraphDeployment by hand (shapes from upstream's examples) and checks what a
client of the real Dynamo operator would observe: Deployments, pods placed on the fake GPU nodes,
Services, DGD status, admission errors, garbage collection.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from harness import BackgroundProcess
from kubefoundry.operator.runtime import kube as k
from kubefoundry.operator.runtime.kube import JSON
from kubefoundry.simulator.dynamo.names import DGDS
from support import IMAGE, vllm_agg

T = TypeVar("T")
TIMEOUT = 90.0


async def eventually(
    check: Callable[[], Awaitable[T]], what: str, standin: BackgroundProcess, timeout: float = TIMEOUT
) -> T:
    """Retries `check` until it returns without AssertionError; fails with its last error."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if not standin.running():
            pytest.fail(
                f"the Dynamo stand-in exited while waiting for {what}; its log:\n{standin.log()[-8000:]}", pytrace=False
            )
        try:
            return await check()
        except AssertionError as exc:
            if loop.time() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}: {exc}") from exc
        await asyncio.sleep(0.25)


async def create_dgd(kube: k.Kube, namespace: str, body: JSON) -> JSON:
    body = copy.deepcopy(body)
    body["metadata"]["namespace"] = namespace
    return await kube.create(DGDS, body, namespace)


async def create_hf_secret(kube: k.Kube, namespace: str) -> None:
    await kube.create(
        k.SECRETS,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "hf-token-secret"},
            "stringData": {"HF_TOKEN": "not-a-real-token"},
        },
        namespace,
    )


async def get_deployment(kube: k.Kube, namespace: str, name: str) -> JSON:
    dep = await kube.get_or_none(k.DEPLOYMENTS, name, namespace)
    assert dep is not None, f"Deployment {namespace}/{name} does not exist"
    return dep


async def dgd_status(kube: k.Kube, namespace: str, name: str) -> tuple[JSON, JSON]:
    dgd = await kube.get(DGDS, name, namespace)
    return dgd, dgd.get("status") or {}


def ready_condition(status: JSON) -> JSON:
    conds = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
    assert len(conds) == 1, f"expected one Ready condition, got {status.get('conditions')}"
    return conds[0]


async def wait_successful(kube: k.Kube, namespace: str, name: str, standin: BackgroundProcess) -> JSON:
    async def check() -> JSON:
        dgd, status = await dgd_status(kube, namespace, name)
        assert status.get("state") == "successful", status
        assert status.get("observedGeneration") == dgd["metadata"]["generation"], status
        return dgd

    return await eventually(check, f"DGD {name} to become successful", standin)


def pod_ready(pod: JSON) -> bool:
    conds = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions") or []}
    return pod.get("status", {}).get("phase") == "Running" and conds.get("Ready") == "True"


async def pods_of(kube: k.Kube, namespace: str, dgd: str, component: str | None = None) -> list[JSON]:
    selector = f"nvidia.com/dynamo-graph-deployment-name={dgd}"
    if component:
        selector += f",nvidia.com/dynamo-component={component}"
    items: list[JSON] = (await kube.list(k.PODS, namespace, label_selector=selector)).get("items") or []
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def expected_pod_labels(namespace: str, dgd: str, key: str, ctype: str) -> dict[str, str]:
    return {
        "nvidia.com/dynamo-graph-deployment-name": dgd,
        "nvidia.com/dynamo-component": key,
        "nvidia.com/dynamo-component-type": ctype,
        "nvidia.com/dynamo-namespace": f"{namespace}-{dgd}",
        "nvidia.com/selector": f"{dgd}-{key.lower()}",
        "nvidia.com/metrics-enabled": "true",
        "nvidia.com/dynamo-discovery-backend": "kubernetes",
        "nvidia.com/dynamo-discovery-enabled": "true",
    }


def controlled_by(obj: JSON, owner: JSON) -> bool:
    return any(
        r.get("uid") == owner["metadata"]["uid"] and r.get("controller") and r.get("kind") == "DynamoGraphDeployment"
        for r in obj["metadata"].get("ownerReferences") or []
    )


def main_container(dep: JSON) -> JSON:
    containers: list[JSON] = dep["spec"]["template"]["spec"]["containers"]
    mains = [c for c in containers if c["name"] == "main"]
    assert len(mains) == 1, containers
    return mains[0]


# --- tests ------------------------------------------------------------------------------------------


async def test_aggregated_dgd_runs_on_gpu_nodes_and_reports_ready(
    kube: k.Kube, namespace: str, dynamo_standin: BackgroundProcess
) -> None:
    await create_hf_secret(kube, namespace)
    dgd = await create_dgd(kube, namespace, vllm_agg("qwen-agg"))

    worker = await eventually(
        lambda: get_deployment(kube, namespace, "qwen-agg-vllmworker"), "the worker Deployment", dynamo_standin
    )
    frontend = await get_deployment(kube, namespace, "qwen-agg-frontend")

    # The worker Deployment, as Dynamo's DCD controller shapes it.
    assert controlled_by(worker, dgd)
    assert worker["spec"]["replicas"] == 1
    assert worker["spec"]["selector"] == {"matchLabels": {"nvidia.com/selector": "qwen-agg-vllmworker"}}
    assert worker["spec"]["template"]["metadata"]["labels"] == expected_pod_labels(
        namespace, "qwen-agg", "VllmWorker", "worker"
    )
    main = main_container(worker)
    assert main["image"] == IMAGE
    assert main["command"] == ["python3", "-m", "dynamo.vllm"]
    assert main["args"] == ["--model", "Qwen/Qwen3-0.6B", "--enforce-eager"]
    assert main["workingDir"] == "/workspace/examples/backends/vllm"
    assert main["envFrom"] == [{"secretRef": {"name": "hf-token-secret"}}]
    assert main["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    assert {"name": "system", "containerPort": 9090, "protocol": "TCP"} in main["ports"]
    env = {e["name"]: e.get("value") for e in main.get("env") or []}
    assert env["DYN_SYSTEM_PORT"] == "9090"
    assert env["DYN_NAMESPACE"] == f"{namespace}-qwen-agg"

    assert controlled_by(frontend, dgd)
    assert frontend["spec"]["template"]["metadata"]["labels"] == expected_pod_labels(
        namespace, "qwen-agg", "Frontend", "frontend"
    )
    fmain = main_container(frontend)
    assert {"name": "http", "containerPort": 8000, "protocol": "TCP"} in fmain["ports"]
    assert fmain["command"] == ["python3"] and fmain["args"] == ["-m", "dynamo.frontend"]
    assert "nvidia.com/gpu" not in (fmain.get("resources") or {}).get("limits", {})

    # The real scheduler places the pods; the worker lands on a node with GPUs.
    async def pods_running() -> list[JSON]:
        pods = await pods_of(kube, namespace, "qwen-agg")
        assert len(pods) == 2, [p["metadata"]["name"] for p in pods]
        assert all(pod_ready(p) for p in pods), [(p["metadata"]["name"], p.get("status")) for p in pods]
        return pods

    await eventually(pods_running, "both pods Running and Ready", dynamo_standin)
    [worker_pod] = await pods_of(kube, namespace, "qwen-agg", "VllmWorker")
    node = await kube.get(k.NODES, worker_pod["spec"]["nodeName"])
    assert int(node["status"]["allocatable"].get("nvidia.com/gpu", "0")) >= 1, node["metadata"]["name"]

    # The frontend Service (notes §5).
    svc = await eventually(
        lambda: kube.get(k.SERVICES, "qwen-agg-frontend", namespace), "the frontend Service", dynamo_standin
    )
    assert controlled_by(svc, dgd)
    assert svc["spec"]["type"] == "ClusterIP"
    assert [(p["name"], p["port"]) for p in svc["spec"]["ports"]] == [("http", 8000)]
    assert svc["spec"]["selector"] == {
        "nvidia.com/dynamo-component-type": "frontend",
        "nvidia.com/dynamo-namespace": f"{namespace}-qwen-agg",
        "nvidia.com/dynamo-component": "Frontend",
    }

    # DGD status, as Dynamo writes it.
    dgd = await wait_successful(kube, namespace, "qwen-agg", dynamo_standin)
    status = dgd["status"]
    cond = ready_condition(status)
    assert (cond["status"], cond["reason"], cond["message"]) == (
        "True",
        "all_resources_are_ready",
        "All resources are ready",
    )
    assert cond["lastTransitionTime"]
    assert status["services"] == {
        "Frontend": {
            "componentKind": "Deployment",
            "componentName": "qwen-agg-frontend",
            "componentNames": ["qwen-agg-frontend"],
            "replicas": 1,
            "updatedReplicas": 1,
            "readyReplicas": 1,
            "availableReplicas": 1,
        },
        "VllmWorker": {
            "componentKind": "Deployment",
            "componentName": "qwen-agg-vllmworker",
            "componentNames": ["qwen-agg-vllmworker"],
            "replicas": 1,
            "updatedReplicas": 1,
            "readyReplicas": 1,
            "availableReplicas": 1,
        },
    }

    # Steady state: nothing is rewritten (no hot loop on status or children).
    async def versions() -> list[str]:
        objs = [await kube.get(DGDS, "qwen-agg", namespace)]
        objs += (await kube.list(k.DEPLOYMENTS, namespace)).get("items") or []
        objs += (await kube.list(k.SERVICES, namespace)).get("items") or []
        return sorted(
            f"{o['kind'] if 'kind' in o else ''}{o['metadata']['name']}@{o['metadata']['resourceVersion']}"
            for o in objs
        )

    before = await versions()
    await asyncio.sleep(3)
    assert await versions() == before


async def test_dgd_needing_more_gpus_than_the_cluster_has_stays_pending(
    kube: k.Kube, namespace: str, dynamo_standin: BackgroundProcess
) -> None:
    await create_hf_secret(kube, namespace)
    # 17 GPUs in one pod: more than any node (8) and than the whole cluster (16); uses none of them.
    await create_dgd(kube, namespace, vllm_agg("too-big", worker_gpus="17"))

    async def unschedulable() -> JSON:
        pods = await pods_of(kube, namespace, "too-big", "VllmWorker")
        assert len(pods) == 1, pods
        pod = pods[0]
        assert pod["status"].get("phase") == "Pending", pod["status"]
        sched = [c for c in pod["status"].get("conditions") or [] if c["type"] == "PodScheduled"]
        assert sched and sched[0]["status"] == "False" and sched[0]["reason"] == "Unschedulable", sched
        return sched[0]

    cond = await eventually(unschedulable, "the worker pod to be unschedulable", dynamo_standin)
    assert "Insufficient nvidia.com/gpu" in cond["message"], cond["message"]

    async def frontend_up_worker_not() -> JSON:
        dgd, status = await dgd_status(kube, namespace, "too-big")
        assert status.get("services", {}).get("Frontend", {}).get("readyReplicas") == 1, status
        assert status.get("observedGeneration") == dgd["metadata"]["generation"], status
        return status

    status = await eventually(frontend_up_worker_not, "the frontend to be ready", dynamo_standin)
    assert status["state"] == "pending"
    assert status["services"]["VllmWorker"]["readyReplicas"] == 0
    ready = ready_condition(status)
    assert (ready["status"], ready["reason"]) == ("False", "some_resources_are_not_ready")
    assert ready["message"] == (
        "Resources not ready: too-big-vllmworker: Component deployment not ready - Available condition not true"
    )

    # And it stays so: the pod still waits for GPUs that do not exist.
    await asyncio.sleep(3)
    _, status = await dgd_status(kube, namespace, "too-big")
    assert status["state"] == "pending"
    [pod] = await pods_of(kube, namespace, "too-big", "VllmWorker")
    assert pod["status"]["phase"] == "Pending" and not pod["spec"].get("nodeName")


async def test_scaling_a_service_changes_its_deployment(
    kube: k.Kube, namespace: str, dynamo_standin: BackgroundProcess
) -> None:
    await create_hf_secret(kube, namespace)
    await create_dgd(kube, namespace, vllm_agg("scale"))
    await wait_successful(kube, namespace, "scale", dynamo_standin)

    async def scaled_to(n: int, generation: int) -> None:
        async def check() -> None:
            dep = await get_deployment(kube, namespace, "scale-vllmworker")
            assert dep["spec"]["replicas"] == n, dep["spec"]["replicas"]
            dgd, status = await dgd_status(kube, namespace, "scale")
            assert dgd["metadata"]["generation"] == generation
            assert status.get("state") == "successful", status
            assert status.get("observedGeneration") == generation, status
            svc = status["services"]["VllmWorker"]
            assert (svc["replicas"], svc["readyReplicas"], svc["availableReplicas"]) == (n, n, n), svc
            pods = await pods_of(kube, namespace, "scale", "VllmWorker")
            assert len(pods) == n and all(pod_ready(p) for p in pods), [p["metadata"]["name"] for p in pods]

        await eventually(check, f"the worker to run {n} replicas", dynamo_standin)

    await kube.merge_patch(DGDS, "scale", {"spec": {"services": {"VllmWorker": {"replicas": 2}}}}, namespace)
    await scaled_to(2, generation=2)
    await kube.merge_patch(DGDS, "scale", {"spec": {"services": {"VllmWorker": {"replicas": 1}}}}, namespace)
    await scaled_to(1, generation=3)
    # The other service is untouched.
    assert (await get_deployment(kube, namespace, "scale-frontend"))["spec"]["replicas"] == 1


async def test_drifted_or_deleted_children_are_restored(
    kube: k.Kube, namespace: str, dynamo_standin: BackgroundProcess
) -> None:
    await create_hf_secret(kube, namespace)
    await create_dgd(kube, namespace, vllm_agg("drift", worker_gpus=None))
    await wait_successful(kube, namespace, "drift", dynamo_standin)
    frontend = await get_deployment(kube, namespace, "drift-frontend")

    # Someone scales the child by hand: the stand-in (watching its Deployments) puts it back.
    await kube.merge_patch(
        k.DEPLOYMENTS, "drift-frontend", {"spec": {"replicas": 3}}, namespace, field_manager="someone-else"
    )

    async def restored() -> None:
        dep = await get_deployment(kube, namespace, "drift-frontend")
        assert dep["spec"]["replicas"] == 1, dep["spec"]["replicas"]

    await eventually(restored, "the frontend Deployment to be scaled back to 1", dynamo_standin)

    # Someone deletes the child: it is recreated.
    await kube.delete(k.DEPLOYMENTS, "drift-frontend", namespace)

    async def recreated() -> None:
        dep = await get_deployment(kube, namespace, "drift-frontend")
        assert dep["metadata"]["uid"] != frontend["metadata"]["uid"]

    await eventually(recreated, "the frontend Deployment to be recreated", dynamo_standin)
    dgd = await wait_successful(kube, namespace, "drift", dynamo_standin)

    # A Deployment the DGD controls but no service wants (as after a service left the spec, which the
    # admission policy forbids in place) is deleted.
    leftover = copy.deepcopy(await get_deployment(kube, namespace, "drift-frontend"))
    leftover["metadata"] = {
        "name": "drift-oldservice",
        "labels": {"nvidia.com/dynamo-graph-deployment-name": "drift"},
        "ownerReferences": [k.owner_reference(dgd)],
    }
    leftover["spec"]["replicas"] = 0
    leftover.pop("status", None)
    await kube.create(k.DEPLOYMENTS, leftover, namespace)

    async def pruned() -> None:
        assert await kube.get_or_none(k.DEPLOYMENTS, "drift-oldservice", namespace) is None, "still there"

    await eventually(pruned, "the unwanted Deployment to be deleted", dynamo_standin)
    assert await kube.get_or_none(k.DEPLOYMENTS, "drift-frontend", namespace) is not None


async def test_admission_policy_enforces_dynamo_update_rules(
    kube: k.Kube, namespace: str, dynamo_standin: BackgroundProcess
) -> None:
    await create_dgd(kube, namespace, vllm_agg("rules", worker_gpus=None))

    async def rejected(patch: JSON) -> k.KubeError:
        with pytest.raises(k.KubeError) as info:
            await kube.merge_patch(DGDS, "rules", patch, namespace)
        assert info.value.status == 422, info.value
        return info.value

    err = await rejected({"spec": {"services": {"Planner": {"componentType": "planner"}}}})
    assert (
        "service topology is immutable and cannot be modified after creation: services added: [Planner]" in err.message
    ), err.message

    err = await rejected({"spec": {"services": {"Frontend": None}}})
    assert (
        "service topology is immutable and cannot be modified after creation: services removed: [Frontend]"
        in err.message
    ), err.message

    err = await rejected({"spec": {"services": {"Frontend": None, "Zeta": {}, "Alpha": {}}}})
    assert (
        "service topology is immutable and cannot be modified after creation: "
        "services added: [Alpha Zeta], services removed: [Frontend]"
    ) in err.message, err.message

    err = await rejected({"spec": {"backendFramework": "sglang"}})
    assert "spec.backendFramework is immutable and cannot be changed after creation" in err.message, err.message

    err = await rejected({"spec": {"services": {"VllmWorker": {"multinode": {"nodeCount": 2}}}}})
    assert (
        "spec.services[VllmWorker] cannot change node topology (between single-node and multi-node) after creation"
    ) in err.message, err.message

    # Nothing of the rejected updates was stored.
    dgd = await kube.get(DGDS, "rules", namespace)
    assert sorted(dgd["spec"]["services"]) == ["Frontend", "VllmWorker"]
    assert dgd["spec"]["backendFramework"] == "vllm"
    assert dgd["metadata"]["generation"] == 1

    # In-place changes of existing services are allowed.
    changed = await kube.merge_patch(
        DGDS,
        "rules",
        {
            "spec": {
                "services": {
                    "VllmWorker": {
                        "replicas": 2,
                        "extraPodSpec": {"mainContainer": {"args": ["--model", "Qwen/Qwen3-1.7B"]}},
                    }
                }
            }
        },
        namespace,
    )
    assert changed["metadata"]["generation"] == 2

    # A DGD without services is rejected at creation.
    empty = vllm_agg("empty")
    empty["spec"]["services"] = {}
    with pytest.raises(k.KubeError) as info:
        await create_dgd(kube, namespace, empty)
    assert "spec.services must have at least one service" in info.value.message, info.value.message


async def test_deleting_the_dgd_garbage_collects_its_children(
    kube: k.Kube, namespace: str, dynamo_standin: BackgroundProcess
) -> None:
    await create_hf_secret(kube, namespace)
    dgd = await create_dgd(kube, namespace, vllm_agg("gone"))
    await wait_successful(kube, namespace, "gone", dynamo_standin)
    for name in ("gone-frontend", "gone-vllmworker"):
        assert controlled_by(await get_deployment(kube, namespace, name), dgd)
    assert controlled_by(await kube.get(k.SERVICES, "gone-frontend", namespace), dgd)
    assert len(await pods_of(kube, namespace, "gone")) == 2

    await kube.delete(DGDS, "gone", namespace)

    async def all_gone() -> None:
        assert await kube.get_or_none(DGDS, "gone", namespace) is None, "the DGD still exists"
        left: dict[str, Any] = {}
        for res in (k.DEPLOYMENTS, k.SERVICES, k.PODS):
            items = (
                await kube.list(res, namespace, label_selector="nvidia.com/dynamo-graph-deployment-name=gone")
            ).get("items")
            if items:
                left[res.plural] = [i["metadata"]["name"] for i in items]
        assert not left, left

    await eventually(all_gone, "the garbage collector to delete the DGD's children", dynamo_standin)

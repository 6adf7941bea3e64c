"""The KubeFoundryDeployment operator against the real API server, with the Dynamo stand-in running."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubefoundry.operator.models.deployment import KFD, KubeFoundryDeploymentSpec
from kubefoundry.operator.providers import get_provider
from kubefoundry.operator.runtime import kube as k
from support import DGD, condition, events_for, eventually, kfd, vllm_agg, wait_for_phase

pytestmark = pytest.mark.usefixtures("provider_crds", "operator", "dynamo_standin")


async def worker_pods(kube: k.Kube, namespace: str, name: str) -> list[dict[str, Any]]:
    selector = get_provider("dynamo").worker_selector(name)
    return list((await kube.list(k.PODS, namespace, label_selector=selector))["items"])


def gpu_request(pod: dict[str, Any]) -> int:
    container = pod["spec"]["containers"][0]
    return int(container.get("resources", {}).get("limits", {}).get("nvidia.com/gpu", 0))


async def test_aggregated_vllm_reaches_running_with_ready_pods(kube: k.Kube, namespace: str) -> None:
    await kube.create(KFD, kfd("qwen", engine="vllm", hfTokenSecret="hf-token-secret"), namespace)
    obj = await wait_for_phase(kube, namespace, "qwen", "Running")

    status = obj["status"]
    assert status["provider"] == "dynamo"
    assert condition(obj, "Ready")["status"] == "True"
    assert condition(obj, "Ready")["observedGeneration"] == obj["metadata"]["generation"]
    assert condition(obj, "ProviderInstalled")["status"] == "True"
    assert condition(obj, "ProviderResourceAccepted")["status"] == "True"
    assert (status["desiredReplicas"], status["readyReplicas"], status["availableReplicas"]) == (1, 1, 1)
    assert status["endpoint"] == {
        "service": "qwen-frontend",
        "port": 8000,
        "url": f"http://qwen-frontend.{namespace}.svc.cluster.local:8000/v1",
    }
    pods = (await kube.list(k.PODS, namespace, label_selector=status["podSelector"]))["items"]
    assert len(pods) == 2  # frontend + one worker
    assert all(condition(p, "Ready").get("status") == "True" for p in pods)
    workers = await worker_pods(kube, namespace, "qwen")
    assert [gpu_request(p) for p in workers] == [1]
    # The Secret is referenced by name only, never copied.
    assert {"secretRef": {"name": "hf-token-secret"}} in workers[0]["spec"]["containers"][0]["envFrom"]

    dgd = await kube.get(DGD, "qwen", namespace)
    owner = dgd["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "KubeFoundryDeployment",
        "qwen",
        obj["metadata"]["uid"],
        True,
    )
    assert any(e["reason"] == "Ready" for e in await events_for(kube, namespace, "qwen"))


async def test_disaggregated_sglang_gets_prefill_and_decode_workers(kube: k.Kube, namespace: str) -> None:
    await kube.create(
        KFD,
        kfd(
            "sg",
            engine="sglang",
            mode="disaggregated",
            prefill={"replicas": 1, "gpus": 2},
            decode={"replicas": 2, "gpus": 1},
        ),
        namespace,
    )
    obj = await wait_for_phase(kube, namespace, "sg", "Running")
    assert obj["status"]["desiredReplicas"] == 3
    assert obj["status"]["readyReplicas"] == 3

    pods = await worker_pods(kube, namespace, "sg")
    by_role = sorted(
        (p["metadata"]["labels"].get("nvidia.com/dynamo-sub-component-type"), gpu_request(p)) for p in pods
    )
    assert by_role == [("decode", 1), ("decode", 1), ("prefill", 2)]
    dgd = await kube.get(DGD, "sg", namespace)
    assert dgd["spec"]["backendFramework"] == "sglang"
    prefill_args = next(
        s["extraPodSpec"]["mainContainer"]["args"]
        for s in dgd["spec"]["services"].values()
        if s.get("subComponentType") == "prefill"
    )
    assert prefill_args[prefill_args.index("--disaggregation-mode") + 1] == "prefill"


async def test_too_big_for_the_cluster_stays_pending_with_the_schedulers_reason(kube: k.Kube, namespace: str) -> None:
    await kube.create(KFD, kfd("huge", gpusPerReplica=8, replicas=3), namespace)

    async def pending_with_reason() -> dict[str, Any] | None:
        obj = await kube.get(KFD, "huge", namespace)
        sched = condition(obj, "PodsScheduled")
        return obj if sched.get("status") == "False" and obj["status"].get("phase") == "Pending" else None

    obj = await eventually(pending_with_reason, 90, what="Pending with PodsScheduled=False")
    message = condition(obj, "PodsScheduled")["message"]
    assert "Insufficient nvidia.com/gpu" in message
    assert condition(obj, "Ready")["reason"] == "Unschedulable"
    # Two 8-GPU workers fit on the two GPU nodes; the third cannot.
    assert obj["status"]["readyReplicas"] <= 2

    async def warned() -> bool:  # the Event follows the status write that announces it
        return any(e["reason"] == "Unschedulable" for e in await events_for(kube, namespace, "huge"))

    await eventually(warned, 30, what="the Unschedulable Event")


async def test_kubectl_scale_and_spec_edits_change_replicas(kube: k.Kube, namespace: str, cluster: Any) -> None:
    await kube.create(KFD, kfd("scaled"), namespace)
    await wait_for_phase(kube, namespace, "scaled", "Running")

    cluster.kubectl("scale", "kfd/scaled", "--replicas=2", "-n", namespace)
    obj = await wait_for_phase(kube, namespace, "scaled", "Running")

    async def two_ready() -> dict[str, Any] | None:
        o = await kube.get(KFD, "scaled", namespace)
        return o if o["status"].get("readyReplicas") == 2 else None

    obj = await eventually(two_ready, 60, what="2 ready replicas")
    assert obj["status"]["desiredReplicas"] == 2
    scale = json.loads(
        cluster.kubectl(
            "get", "--raw", f"/apis/kubefoundry.io/v1alpha1/namespaces/{namespace}/kubefoundrydeployments/scaled/scale"
        ).stdout
    )
    assert scale["spec"]["replicas"] == 2
    assert scale["status"]["replicas"] == 2
    assert "nvidia.com/dynamo-component-type=worker" in scale["status"]["selector"]

    await kube.merge_patch(KFD, "scaled", {"spec": {"replicas": 1}}, namespace)

    async def one_worker() -> bool:
        return len(await worker_pods(kube, namespace, "scaled")) == 1

    await eventually(one_worker, 60, what="scale down to one worker pod")
    dgd = await kube.get(DGD, "scaled", namespace)
    assert dgd["spec"]["services"]["Worker"]["replicas"] == 1


async def test_engine_change_recreates_the_provider_resource(kube: k.Kube, namespace: str) -> None:
    await kube.create(KFD, kfd("swap", engine="vllm"), namespace)
    await wait_for_phase(kube, namespace, "swap", "Running")
    old_uid = (await kube.get(DGD, "swap", namespace))["metadata"]["uid"]

    await kube.merge_patch(KFD, "swap", {"spec": {"engine": "sglang"}}, namespace)

    async def recreated() -> dict[str, Any] | None:
        dgd = await kube.get_or_none(DGD, "swap", namespace)
        ok = dgd and dgd["metadata"]["uid"] != old_uid and dgd["spec"]["backendFramework"] == "sglang"
        return dgd if ok else None

    await eventually(recreated, 90, what="DGD recreated with sglang")
    await wait_for_phase(kube, namespace, "swap", "Running")
    reasons = [e["reason"] for e in await events_for(kube, namespace, "swap")]
    assert "Recreating" in reasons


async def test_deleting_removes_every_child(kube: k.Kube, namespace: str) -> None:
    await kube.create(KFD, kfd("gone"), namespace)
    obj = await wait_for_phase(kube, namespace, "gone", "Running")
    selector = obj["status"]["podSelector"]

    await kube.delete(KFD, "gone", namespace)

    async def all_gone() -> bool:
        dgd = await kube.get_or_none(DGD, "gone", namespace)
        deps = (await kube.list(k.DEPLOYMENTS, namespace))["items"]
        pods = (await kube.list(k.PODS, namespace, label_selector=selector))["items"]
        svc = await kube.get_or_none(k.SERVICES, "gone-frontend", namespace)
        return dgd is None and not deps and not pods and svc is None

    await eventually(all_gone, 90, what="garbage collection of every child")


async def test_a_deployment_of_another_operator_instance_is_left_alone(kube: k.Kube, namespace: str) -> None:
    # Labelled for an operator that is not running; the session operator must neither apply its child nor
    # write its status (two operators reconciling one deployment flap its child and post every Event twice).
    await kube.create(KFD, kfd("theirs", instance="someone-else"), namespace)
    await kube.create(KFD, kfd("ours"), namespace)
    await wait_for_phase(kube, namespace, "ours", "Running")
    await asyncio.sleep(2)  # "theirs" was seen first; give its queued reconcile time to (wrongly) run

    theirs = await kube.get(KFD, "theirs", namespace)
    assert "status" not in theirs, theirs.get("status")
    assert await kube.get_or_none(DGD, "theirs", namespace) is None
    assert await events_for(kube, namespace, "theirs") == []


HOLD = "test.kubefoundry.io/hold"  # a finalizer that keeps a deleted child around, as a provider's does


async def test_a_deployment_made_again_waits_for_the_old_child_instead_of_failing(
    kube: k.Kube, namespace: str
) -> None:
    await kube.create(KFD, kfd("again"), namespace)
    old = await eventually(lambda: kube.get_or_none(DGD, "again", namespace), 60, what="the first DGD")
    await kube.merge_patch(DGD, "again", {"metadata": {"finalizers": [HOLD]}}, namespace)
    await kube.delete(KFD, "again", namespace)  # `kubectl delete kfd again && kubectl apply -f again.yaml`

    async def old_deleting() -> bool:
        dgd = await kube.get_or_none(DGD, "again", namespace)
        return bool(dgd and dgd["metadata"].get("deletionTimestamp"))

    await eventually(old_deleting, 60, what="the garbage collector to delete the old DGD")
    await kube.create(KFD, kfd("again"), namespace)
    waiting = await wait_for_phase(kube, namespace, "again", "Pending")
    assert condition(waiting, "ProviderResourceAccepted")["reason"] == "WaitingForDeletion", waiting["status"]
    assert "finish deleting" in condition(waiting, "Ready")["message"]

    await kube.merge_patch(DGD, "again", {"metadata": {"finalizers": None}}, namespace)
    await wait_for_phase(kube, namespace, "again", "Running")
    new = await kube.get(DGD, "again", namespace)
    assert new["metadata"]["uid"] != old["metadata"]["uid"]
    assert new["metadata"]["ownerReferences"][0]["uid"] == (await kube.get(KFD, "again", namespace))["metadata"]["uid"]


async def test_a_child_whose_owner_reference_was_removed_is_adopted_back(kube: k.Kube, namespace: str) -> None:
    await kube.create(KFD, kfd("orphan"), namespace)
    await wait_for_phase(kube, namespace, "orphan", "Running")
    uid = (await kube.get(KFD, "orphan", namespace))["metadata"]["uid"]
    await kube.merge_patch(DGD, "orphan", {"metadata": {"ownerReferences": None}}, namespace)

    async def adopted() -> bool:
        refs = (await kube.get(DGD, "orphan", namespace))["metadata"].get("ownerReferences") or []
        return [(r["uid"], r.get("controller")) for r in refs] == [(uid, True)]

    await eventually(adopted, 60, what="the DGD to get its ownerReference back")
    assert "Adopted" in [e["reason"] for e in await events_for(kube, namespace, "orphan")]
    assert (await kube.get(KFD, "orphan", namespace))["status"]["phase"] == "Running"
    await kube.delete(KFD, "orphan", namespace)  # and it goes with its deployment again
    await eventually(lambda: _gone(kube, DGD, "orphan", namespace), 60, what="the adopted DGD's garbage collection")


async def _gone(kube: k.Kube, res: k.Resource, name: str, namespace: str) -> bool:
    return await kube.get_or_none(res, name, namespace) is None


async def test_a_child_another_controller_owns_is_not_adopted(kube: k.Kube, namespace: str) -> None:
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "someone"}}
    owner = await kube.create(k.CONFIGMAPS, configmap, namespace)
    theirs = vllm_agg("taken")
    theirs["metadata"]["labels"] = {"kubefoundry.io/deployment": "taken", "app.kubernetes.io/managed-by": "kubefoundry"}
    theirs["metadata"]["ownerReferences"] = [k.owner_reference({**configmap, **owner})]
    await kube.create(DGD, theirs, namespace)
    await kube.create(KFD, kfd("taken"), namespace)
    failed = await wait_for_phase(kube, namespace, "taken", "Failed")
    assert "not owned by this deployment" in condition(failed, "ProviderResourceAccepted")["message"]
    refs = (await kube.get(DGD, "taken", namespace))["metadata"]["ownerReferences"]
    assert [r["uid"] for r in refs] == [owner["metadata"]["uid"]]


async def test_a_hand_edit_of_the_child_is_reverted(kube: k.Kube, namespace: str) -> None:
    await kube.create(KFD, kfd("drift", enforceEager=True), namespace)
    await wait_for_phase(kube, namespace, "drift", "Running")

    # Somebody edits the DynamoGraphDeployment behind KubeFoundry's back (kubectl edit does this).
    await kube.merge_patch(
        DGD, "drift", {"spec": {"services": {"Worker": {"replicas": 4}}}}, namespace, field_manager="kubectl-edit"
    )

    async def reverted() -> bool:
        dgd = await kube.get(DGD, "drift", namespace)
        return bool(dgd["spec"]["services"]["Worker"]["replicas"] == 1)

    await eventually(reverted, 60, what="the hand edit to be put back")


@pytest.mark.parametrize(
    ("engine", "mode"), list(itertools.product(["vllm", "sglang", "trtllm"], ["aggregated", "disaggregated"]))
)
async def test_every_rendered_child_passes_the_real_dynamo_schema(
    kube: k.Kube, namespace: str, engine: str, mode: str
) -> None:
    roles: dict[str, Any] = {"prefill": {"replicas": 2, "gpus": 2}, "decode": {"replicas": 1, "gpus": 4}}
    aggregated: dict[str, Any] = {"replicas": 2, "gpusPerReplica": 2}
    spec = KubeFoundryDeploymentSpec.model_validate(
        {
            "modelId": "meta-llama/Llama-3.1-8B-Instruct",
            "engine": engine,
            "mode": mode,
            "hfTokenSecret": "hf-token-secret",
            "servedModelName": "llama",
            "contextLength": 8192,
            "enablePrefixCaching": True,
            "trustRemoteCode": True,
            "routerMode": "kv",
            "engineArgs": ["--max-num-seqs", "64"],
            **(roles if mode == "disaggregated" else aggregated),
        }
    )
    body = get_provider("dynamo").render("dry", namespace, spec)
    # Strict field validation: a field the real schema does not know is an error, not silently pruned.
    created = await kube.request(
        "POST", DGD.path(namespace), body=body, query={"dryRun": "All", "fieldValidation": "Strict"}
    )
    assert created["spec"]["services"].keys() == body["spec"]["services"].keys()
    assert await kube.get_or_none(DGD, "dry", namespace) is None


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"spec": {"modelId": "Qwen/Qwen3-0.6B", "engine": "llamacpp"}}, 'Unsupported value: "llamacpp"'),
        ({"spec": {"modelId": "Qwen/Qwen3-0.6B", "provider": "nope"}}, 'Unsupported value: "nope"'),
        ({"spec": {"modelId": "not a model id!"}}, "spec.modelId"),
        ({"spec": {"modelId": "Qwen/Qwen3-0.6B", "replicas": -1}}, "spec.replicas"),
        (
            {"spec": {"modelId": "Qwen/Qwen3-0.6B", "prefill": {"replicas": 1}}},
            "prefill and decode are only allowed when mode is disaggregated",
        ),
        (
            {"spec": {"modelId": "Qwen/Qwen3-0.6B", "mode": "disaggregated", "replicas": 2}},
            "in disaggregated mode it stays 1 and prefill.replicas and decode.replicas set the workers",
        ),
        ({"metadata": {"name": "a" * 40}, "spec": {"modelId": "Qwen/Qwen3-0.6B"}}, "at most 32 characters"),
        ({"metadata": {"name": "dotted.name"}, "spec": {"modelId": "Qwen/Qwen3-0.6B"}}, "metadata.name"),
        ({"spec": {"modelId": "Qwen/Qwen3-0.6B", "gpusPerReplica": 0}}, "spec.gpusPerReplica"),
        ({"spec": {}}, "spec.modelId: Required value"),
    ],
)
async def test_invalid_specs_are_rejected_with_readable_messages(
    kube: k.Kube, namespace: str, patch: dict[str, Any], expected: str
) -> None:
    body = kfd("bad")
    body["spec"] = patch["spec"]
    body["metadata"].update(patch.get("metadata", {}))
    with pytest.raises(k.KubeError) as rejected:
        await kube.create(KFD, body, namespace)
    assert rejected.value.status == 422
    assert expected in rejected.value.message


async def test_kubectl_scale_of_a_disaggregated_deployment_is_refused_not_ignored(
    kube: k.Kube, namespace: str, cluster: Any
) -> None:
    await kube.create(KFD, kfd("split", mode="disaggregated", decode={"replicas": 2}), namespace)
    scaled = cluster.kubectl("scale", "kfd/split", "--replicas=3", "-n", namespace, check=False)
    assert scaled.returncode != 0
    assert "prefill.replicas and decode.replicas set the workers" in scaled.stderr
    assert (await kube.get(KFD, "split", namespace))["spec"]["replicas"] == 1


async def test_operator_killed_mid_creation_converges_without_duplicates_or_orphans(
    kube: k.Kube, namespace: str, operator: Any
) -> None:
    count = 200
    names = [f"m{i:03d}" for i in range(count)]
    limit = asyncio.Semaphore(20)

    async def create(name: str) -> None:
        async with limit:
            await kube.create(KFD, kfd(name, replicas=0), namespace)

    creating = asyncio.gather(*(create(n) for n in names))

    async def some_children() -> bool:
        return len((await kube.list(DGD, namespace))["items"]) >= 20

    await eventually(some_children, 60, what="the first children")
    operator.kill()
    await creating
    operator.start()

    async def converged() -> bool:
        dgds = (await kube.list(DGD, namespace))["items"]
        return len(dgds) == count

    await eventually(converged, 240, interval=1, what=f"{count} DynamoGraphDeployments")
    kfds = {o["metadata"]["name"]: o["metadata"]["uid"] for o in (await kube.list(KFD, namespace))["items"]}
    dgds = (await kube.list(DGD, namespace))["items"]
    assert sorted(d["metadata"]["name"] for d in dgds) == sorted(names)  # no duplicates, none missing
    for dgd in dgds:
        refs = dgd["metadata"]["ownerReferences"]
        assert len(refs) == 1 and refs[0]["uid"] == kfds[dgd["metadata"]["name"]]  # no orphans

    async def statuses_current() -> bool:
        items = (await kube.list(KFD, namespace))["items"]
        return all(o.get("status", {}).get("observedGeneration") == o["metadata"]["generation"] for o in items)

    await eventually(statuses_current, 240, interval=1, what="every status observed")


EXAMPLE_DOCS = [
    doc
    for path in sorted((Path(__file__).resolve().parents[2] / "deploy" / "examples").glob("*.yaml"))
    for doc in yaml.safe_load_all(path.read_text())
    if doc and doc["kind"] == KFD.kind
]


async def test_the_examples_pass_the_crd_on_the_api_server(kube: k.Kube, namespace: str) -> None:
    docs = [dict(d, metadata=dict(d["metadata"])) for d in EXAMPLE_DOCS]
    assert docs
    for doc in docs:
        doc["metadata"]["namespace"] = namespace
        await kube.request("POST", KFD.path(namespace), body=doc, query={"dryRun": "All", "fieldValidation": "Strict"})

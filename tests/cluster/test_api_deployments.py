"""The /api/deployments endpoints against the real API server: the round trip and every error code."""

# ruff: noqa: E402  (api_fixtures is registered for assertion rewriting before it is imported)
from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.register_assert_rewrite("api_fixtures")

from api_fixtures import DYNAMO_POD_LABEL, Api, assert_error, pod_manifest, start_api

from harness import Cluster, instance_label
from kubefoundry.operator import providers as registry
from kubefoundry.operator.models.deployment import KFD, KubeFoundryDeploymentSpec
from kubefoundry.operator.providers import get_provider
from kubefoundry.operator.providers.dynamo import DynamoProvider
from kubefoundry.operator.runtime import kube as k
from support import eventually

pytest_plugins = ["api_fixtures"]

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
SUMMARY_FIELDS = {
    "name", "namespace", "modelId", "engine", "mode", "provider", "phase", "replicas", "createdAt", "message",
    "endpoint", "conditions",
}  # fmt: skip


def body(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "modelId": "Qwen/Qwen3-0.6B", **spec}


async def test_create_list_details_delete_round_trip(api: Api, kube: k.Kube, namespace: str) -> None:
    created = await api.call(
        "POST", "/api/deployments", json_body=body("chat", namespace, provider="dynamo", replicas=2, engine="sglang")
    )
    assert created.status == 201, created
    assert created.body["success"] is True
    summary = created.body["deployment"]
    assert set(summary) == SUMMARY_FIELDS
    assert (summary["name"], summary["namespace"], summary["modelId"]) == ("chat", namespace, "Qwen/Qwen3-0.6B")
    assert (summary["engine"], summary["mode"], summary["provider"]) == ("sglang", "aggregated", "dynamo")
    assert summary["phase"] in ("Pending", "Deploying")
    assert summary["replicas"] == {"desired": 2, "ready": 0, "available": 0}
    assert RFC3339.match(summary["createdAt"])
    stored = await kube.get(KFD, "chat", namespace)
    assert stored["spec"]["replicas"] == 2 and stored["spec"]["engine"] == "sglang"
    assert stored["spec"]["enforceEager"] is True  # the CRD's default, not sent by the API

    # Read-your-writes: the list shows it at once, filtered by namespace or across all of them.
    listed = await api.get("/api/deployments", namespace=namespace)
    assert listed.status == 200 and list(listed.body) == ["deployments"]
    assert [d["name"] for d in listed.body["deployments"]] == ["chat"]
    assert set(listed.body["deployments"][0]) == SUMMARY_FIELDS
    everywhere = await api.get("/api/deployments")
    assert ("chat", namespace) in {(d["name"], d["namespace"]) for d in everywhere.body["deployments"]}

    # Pods: two of this deployment (run by the fake kubelet), one that cannot be scheduled, one of another.
    labels = {DYNAMO_POD_LABEL: "chat"}
    await kube.create(k.PODS, pod_manifest("chat-worker-0", labels, gpus=1), namespace)
    await kube.create(k.PODS, pod_manifest("chat-frontend-0", labels), namespace)
    await kube.create(k.PODS, pod_manifest("chat-worker-huge", labels, gpus=64), namespace)
    await kube.create(k.PODS, pod_manifest("other-worker-0", {DYNAMO_POD_LABEL: "other"}), namespace)

    async def pods_settled() -> dict[str, Any] | None:
        reply = await api.get("/api/deployments/chat", namespace=namespace)
        assert reply.status == 200, reply
        pods = {p["name"]: p for p in reply.body["pods"]}
        running = all(
            pods.get(n, {}).get("phase") == "Running" and pods[n]["ready"] for n in ("chat-worker-0", "chat-frontend-0")
        )
        pending = (pods.get("chat-worker-huge") or {}).get("reason")
        return reply.body if running and pending else None  # type: ignore[no-any-return]

    details = await eventually(pods_settled, 60, "the pods to run and the huge one to be unschedulable")
    assert set(details) == SUMMARY_FIELDS | {"pods"}
    assert {k_: v for k_, v in details.items() if k_ != "pods"}["modelId"] == "Qwen/Qwen3-0.6B"
    pods = {p["name"]: p for p in details["pods"]}
    assert "other-worker-0" not in pods
    worker = pods["chat-worker-0"]
    assert set(worker) == {"name", "phase", "ready", "restarts", "node", "reason"}
    assert worker["phase"] == "Running" and worker["ready"] is True and worker["restarts"] == 0
    assert worker["node"] in ("gpu-h100-0", "gpu-h100-1")
    assert worker["reason"] is None
    assert pods["chat-frontend-0"]["node"] is not None
    huge = pods["chat-worker-huge"]
    assert (huge["phase"], huge["ready"], huge["node"]) == ("Pending", False, None)
    assert "Insufficient nvidia.com/gpu" in huge["reason"]
    names = [p["name"] for p in details["pods"]]
    assert names == sorted(names)

    deleted = await api.call("DELETE", "/api/deployments/chat", params={"namespace": namespace})
    assert (deleted.status, deleted.body) == (200, {"success": True, "message": "Deployment deleted"})

    async def gone() -> bool:
        reply = await api.get("/api/deployments/chat", namespace=namespace)
        listed = await api.get("/api/deployments", namespace=namespace)
        return reply.status == 404 and listed.body["deployments"] == []

    await eventually(gone, 60, "the deployment to disappear")
    assert_error(await api.get("/api/deployments/chat", namespace=namespace), 404, "NOT_FOUND")
    assert await kube.get_or_none(KFD, "chat", namespace) is None
    assert_error(await api.call("DELETE", "/api/deployments/chat", params={"namespace": namespace}), 404, "NOT_FOUND")


async def test_create_with_every_spec_field(api: Api, kube: k.Kube, namespace: str) -> None:
    spec = {
        "modelId": "meta-llama/Llama-3.1-8B-Instruct",
        "provider": "dynamo",
        "engine": "vllm",
        "mode": "disaggregated",
        "prefill": {"replicas": 2, "gpus": 1},
        "decode": {"replicas": 1, "gpus": 2},
        "hfTokenSecret": "hf-token",
        "servedModelName": "llama",
        "contextLength": 8192,
        "enforceEager": False,
        "enablePrefixCaching": True,
        "trustRemoteCode": True,
        "routerMode": "kv",
        "engineArgs": ["--max-num-seqs", "64"],
        "image": "registry.example.com/vllm:1",
    }
    reply = await api.call("POST", "/api/deployments", json_body={"name": "full", "namespace": namespace, **spec})
    assert reply.status == 201, reply
    assert reply.body["deployment"]["mode"] == "disaggregated"
    assert reply.body["deployment"]["replicas"]["desired"] == 3
    stored = await kube.get(KFD, "full", namespace)
    assert {key: stored["spec"][key] for key in spec} == spec
    # Every spec field of the model the CRD comes from is accepted under its own name.
    assert set(KubeFoundryDeploymentSpec.model_fields) - set(spec) <= {"replicas", "gpusPerReplica"}


async def test_create_without_provider_echoes_the_active_one(api: Api, kube: k.Kube, namespace: str) -> None:
    from kubefoundry.operator.runtime.settings import read_settings

    reply = await api.call("POST", "/api/deployments", json_body=body("plain", namespace))
    assert reply.status == 201, reply
    assert reply.body["deployment"]["provider"] == (await read_settings(kube)).active_provider_id
    assert reply.body["deployment"]["replicas"]["desired"] == 1
    assert "provider" not in (await kube.get(KFD, "plain", namespace))["spec"]


@pytest.mark.parametrize(
    ("extra", "fields"),
    [
        ({"modelId": "not a model id"}, ["modelId"]),
        ({"replicas": -1, "gpusPerReplica": 9}, ["replicas", "gpusPerReplica"]),
        ({"engine": "tensorflow"}, ["engine"]),
        ({"mode": "aggregated", "prefill": {"replicas": 1}}, ["body"]),
        ({"unknownField": True}, ["unknownField"]),
        ({"name": "Bad_Name"}, ["name"]),
        ({"name": "a" * 33}, ["name"]),
        ({"namespace": None}, ["namespace"]),
        ({"prefill": {"replicas": "many"}, "mode": "disaggregated"}, ["prefill.replicas"]),
        ({"provider": "no-such-provider"}, ["provider"]),
    ],
)
async def test_create_validation_errors_name_each_field(
    api: Api, namespace: str, extra: dict[str, Any], fields: list[str]
) -> None:
    payload = {**body("bad", namespace), **extra}
    payload = {key: value for key, value in payload.items() if value is not None}
    err = assert_error(await api.call("POST", "/api/deployments", json_body=payload), 400, "VALIDATION_ERROR")
    assert [d["field"] for d in err["details"]["fields"]] == fields
    assert all(set(d) == {"field", "message", "type"} and d["message"] for d in err["details"]["fields"])


async def test_conflicts_and_missing_things(api: Api, namespace: str) -> None:
    assert (await api.call("POST", "/api/deployments", json_body=body("twice", namespace))).status == 201
    err = assert_error(
        await api.call("POST", "/api/deployments", json_body=body("twice", namespace)), 409, "ALREADY_EXISTS"
    )
    assert "twice" in err["error"]
    err = assert_error(
        await api.call("POST", "/api/deployments", json_body=body("x", "kf-no-such-namespace")), 404, "NOT_FOUND"
    )
    assert "kf-no-such-namespace" in err["error"]
    assert_error(await api.get("/api/deployments/nothing", namespace=namespace), 404, "NOT_FOUND")

    err = assert_error(await api.get("/api/deployments/twice"), 400, "VALIDATION_ERROR")
    assert [d["field"] for d in err["details"]["fields"]] == ["namespace"]
    err = assert_error(await api.call("DELETE", "/api/deployments/twice"), 400, "VALIDATION_ERROR")
    assert [d["field"] for d in err["details"]["fields"]] == ["namespace"]
    err = assert_error(await api.get("/api/deployments/Not.A.Name", namespace=namespace), 400, "VALIDATION_ERROR")
    assert [d["field"] for d in err["details"]["fields"]] == ["name"]
    err = assert_error(await api.get("/api/deployments", namespace="Not_A_Namespace"), 400, "VALIDATION_ERROR")
    assert [d["field"] for d in err["details"]["fields"]] == ["namespace"]


async def test_preview_renders_and_dry_runs_without_persisting(api: Api, kube: k.Kube, namespace: str) -> None:
    payload = body("pv", namespace, provider="dynamo", replicas=3, gpusPerReplica=2)
    reply = await api.call("POST", "/api/deployments/preview", json_body=payload)
    assert reply.status == 200, reply
    assert set(reply.body) == {"provider", "deployment", "resources"}
    assert reply.body["provider"] == "dynamo"
    assert reply.body["deployment"] == {
        "apiVersion": "kubefoundry.io/v1alpha1",
        "kind": "KubeFoundryDeployment",
        # Labelled for the operator instance this API runs next to (the session's, see conftest).
        "metadata": {"name": "pv", "namespace": namespace, "labels": instance_label()},
        "spec": {"modelId": "Qwen/Qwen3-0.6B", "provider": "dynamo", "replicas": 3, "gpusPerReplica": 2},
    }
    provider = get_provider("dynamo")
    spec = KubeFoundryDeploymentSpec.model_validate(reply.body["deployment"]["spec"])
    [resource] = reply.body["resources"]
    assert resource == {
        "apiVersion": provider.resource.api_version,
        "kind": provider.resource.kind,
        "name": "pv",
        "namespace": namespace,
        "manifest": provider.render("pv", namespace, spec),
    }
    assert await kube.get_or_none(KFD, "pv", namespace) is None
    assert await kube.get_or_none(provider.resource, "pv", namespace) is None

    err = assert_error(
        await api.call("POST", "/api/deployments/preview", json_body=body("pv", "kf-no-such-namespace")),
        404,
        "NOT_FOUND",
    )
    assert "kf-no-such-namespace" in err["error"]


class _UninstalledProvider(DynamoProvider):
    """Renders like Dynamo, but into a kind whose CRD no cluster has."""

    id = "kf-test-uninstalled"
    resource = k.Resource("example.kubefoundry.io", "v1", "widgets", "Widget")


async def test_preview_with_a_provider_whose_crd_is_missing(
    api: Api, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(registry._BY_ID, _UninstalledProvider.id, _UninstalledProvider())
    err = assert_error(
        await api.call(
            "POST", "/api/deployments/preview", json_body=body("pv", namespace, provider=_UninstalledProvider.id)
        ),
        424,
        "PROVIDER_NOT_INSTALLED",
    )
    assert "widgets.example.com" not in err["error"] and "widgets.example.kubefoundry.io" in err["error"]


@pytest.fixture
def refusing_policy(cluster: Cluster, namespace: str, tmp_path: Path) -> Iterator[None]:
    """A ValidatingAdmissionPolicy, bound to this test's namespace only, that refuses one modelId."""
    name = f"kf-api-test-{namespace}"
    docs = [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": ["kubefoundry.io"],
                            "apiVersions": ["*"],
                            "operations": ["CREATE"],
                            "resources": ["kubefoundrydeployments"],
                        }
                    ]
                },
                "validations": [
                    {
                        "expression": "object.spec.modelId != 'policy/refused'",
                        "message": "modelId policy/refused is refused by the test policy",
                        "reason": "Invalid",
                    }
                ],
            },
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name},
            "spec": {
                "policyName": name,
                "validationActions": ["Deny"],
                "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}},
            },
        },
    ]
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    cluster.kubectl("apply", "-f", str(path))
    try:
        yield
    finally:
        cluster.kubectl("delete", "-f", str(path), "--wait=false", check=False)


async def test_api_server_validation_errors_keep_its_causes(
    api: Api, kube: k.Kube, namespace: str, refusing_policy: None
) -> None:
    async def refused() -> dict[str, Any] | None:
        reply = await api.call(
            "POST", "/api/deployments", json_body=body("refused", namespace, modelId="policy/refused")
        )
        if reply.status == 201:  # the policy is not enforced yet: undo and retry
            await kube.delete(KFD, "refused", namespace)
            await eventually(lambda: _absent(kube, namespace, "refused"), 30, "the deployment to go")
            return None
        return reply.body  # type: ignore[no-any-return]

    err = await eventually(refused, 60, "the admission policy to refuse the deployment")
    assert err["code"] == "VALIDATION_ERROR"
    assert "refused by the test policy" in err["error"]
    # The API server's causes (here one, without a field) are the details.
    assert err["details"]["fields"] and "refused by the test policy" in err["details"]["fields"][0]["message"]
    assert all(set(d) == {"field", "message", "type"} for d in err["details"]["fields"])


async def _absent(kube: k.Kube, namespace: str, name: str) -> bool:
    return await kube.get_or_none(KFD, name, namespace) is None


def _token_kubeconfig(cluster: Cluster, token: str, path: Path) -> Path:
    """A kubeconfig for the same API server that authenticates with a bearer token."""
    admin = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": admin["clusters"][0]["cluster"]}],
        "users": [{"name": "token", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "token"}}],
        "current-context": "c",
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
async def powerless_kube(cluster: Cluster, kube: k.Kube, namespace: str, tmp_path: Path) -> AsyncIterator[k.Kube]:
    """A client authenticated as a ServiceAccount that RBAC grants nothing."""
    await kube.create(
        k.Resource("", "v1", "serviceaccounts", "ServiceAccount"),
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "nobody"}},
        namespace,
    )
    token = await kube.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/nobody/token",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 600}},
    )
    path = _token_kubeconfig(cluster, token["status"]["token"], tmp_path / "nobody.kubeconfig")
    client = await k.Kube.connect(str(path))
    yield client
    await client.close()


async def test_forbidden_by_rbac(powerless_kube: k.Kube, namespace: str) -> None:
    api = await start_api(powerless_kube)
    try:
        err = assert_error(
            await api.call("POST", "/api/deployments", json_body=body("x", namespace, provider="dynamo")),
            403,
            "FORBIDDEN",
        )
        assert "forbidden" in err["error"].lower()
        assert_error(await api.get("/api/deployments"), 403, "FORBIDDEN")
        assert_error(await api.call("DELETE", "/api/deployments/x", params={"namespace": namespace}), 403, "FORBIDDEN")
    finally:
        await api.client.close()

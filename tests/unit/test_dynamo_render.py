"""The Dynamo provider: DGD rendering, recreate decisions, status reading, selectors, installation."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from kubefoundry.operator.models.deployment import MAX_NAME_LENGTH, KubeFoundryDeploymentSpec
from kubefoundry.operator.providers import DEFAULT_PROVIDER_ID, UnknownProvider, all_providers, get_provider
from kubefoundry.operator.providers.dynamo import (
    DECODE_WORKER,
    DYNAMO_VERSION,
    FRONTEND,
    PREFILL_WORKER,
    VLLM_KV_TRANSFER_CONFIG,
    WORKER,
    DynamoProvider,
)

MODEL = "Qwen/Qwen3-0.6B"
ENGINES = ["vllm", "sglang", "trtllm"]
MODES = ["aggregated", "disaggregated"]
REPO_ROOT = Path(__file__).resolve().parents[2]

provider = DynamoProvider()


def spec(**fields: Any) -> KubeFoundryDeploymentSpec:
    return KubeFoundryDeploymentSpec.model_validate({"modelId": MODEL, **fields})


def render(name: str = "qwen", **fields: Any) -> dict[str, Any]:
    return provider.render(name, "team-a", spec(**fields))


def main_container(dgd: dict[str, Any], service: str) -> dict[str, Any]:
    container: dict[str, Any] = dgd["spec"]["services"][service]["extraPodSpec"]["mainContainer"]
    return container


def args_of(dgd: dict[str, Any], service: str) -> list[str]:
    args: list[str] = main_container(dgd, service)["args"]
    return args


def worker_keys(mode: str) -> list[str]:
    return [PREFILL_WORKER, DECODE_WORKER] if mode == "disaggregated" else [WORKER]


# --- registry -----------------------------------------------------------------------------------


def test_registry_resolves_the_default_provider() -> None:
    assert DEFAULT_PROVIDER_ID == "dynamo"
    assert isinstance(get_provider(DEFAULT_PROVIDER_ID), DynamoProvider)
    assert [p.id for p in all_providers()].count("dynamo") == 1


def test_unknown_provider_is_a_key_error_that_names_the_known_ones() -> None:
    with pytest.raises(UnknownProvider) as info:
        get_provider("nope")
    assert isinstance(info.value, KeyError)
    assert info.value.provider_id == "nope"
    assert "'nope'" in str(info.value) and "dynamo" in str(info.value)


# --- rendering: shape ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("engine", ENGINES)
def test_every_engine_and_mode_renders(engine: str, mode: str) -> None:
    dgd = render(engine=engine, mode=mode)
    assert dgd["apiVersion"] == "nvidia.com/v1alpha1"
    assert dgd["kind"] == "DynamoGraphDeployment"
    assert dgd["metadata"]["name"] == "qwen" and dgd["metadata"]["namespace"] == "team-a"
    assert dgd["spec"]["backendFramework"] == engine
    assert sorted(dgd["spec"]["services"]) == sorted([FRONTEND, *worker_keys(mode)])

    frontend = dgd["spec"]["services"][FRONTEND]
    assert frontend["componentType"] == "frontend"
    assert frontend["replicas"] == 1
    image = {"vllm": "vllm-runtime", "sglang": "sglang-runtime", "trtllm": "tensorrtllm-runtime"}[engine]
    assert main_container(dgd, FRONTEND)["image"] == f"nvcr.io/nvidia/ai-dynamo/{image}:{DYNAMO_VERSION}"

    for key in worker_keys(mode):
        service = dgd["spec"]["services"][key]
        assert service["componentType"] == "worker"
        container = main_container(dgd, key)
        assert container["image"] == f"nvcr.io/nvidia/ai-dynamo/{image}:{DYNAMO_VERSION}"
        assert container["command"] == ["python3", "-m", f"dynamo.{engine}"]
        assert all(isinstance(a, str) for a in container["args"])
        assert container["workingDir"]
    if mode == "disaggregated":
        assert dgd["spec"]["services"][PREFILL_WORKER]["subComponentType"] == "prefill"
        assert dgd["spec"]["services"][DECODE_WORKER]["subComponentType"] == "decode"
    else:
        assert "subComponentType" not in dgd["spec"]["services"][WORKER]


def test_labels_identify_kubefoundry_and_the_deployment() -> None:
    assert render("my-model")["metadata"]["labels"] == {
        "app.kubernetes.io/name": "kubefoundry",
        "app.kubernetes.io/instance": "my-model",
        "app.kubernetes.io/managed-by": "kubefoundry",
        "kubefoundry.io/deployment": "my-model",
    }


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("engine", ENGINES)
def test_no_shell_anywhere(engine: str, mode: str) -> None:
    dgd = render(engine=engine, mode=mode, engineArgs=["--max-num-seqs", "64"])
    for key in dgd["spec"]["services"]:
        container = main_container(dgd, key)
        argv = container["command"] + container["args"]
        assert "/bin/sh" not in argv and "sh" not in argv and "-c" not in argv
        assert not any(" " in a for a in container["command"])


def test_service_keys_fit_dynamo_name_limits_for_the_longest_name() -> None:
    name = "a" * MAX_NAME_LENGTH
    for mode in MODES:
        for key in render(name, mode=mode)["spec"]["services"]:
            # Grove pathway webhook rule; DCD pathway worker Deployment `<dgd>-<svc>-<8 hex>` as a DNS label.
            assert len(name) + len(key.lower()) <= 45
            assert len(f"{name}-{key.lower()}-0123abcd") <= 63


# --- rendering: argv ----------------------------------------------------------------------------


def test_vllm_aggregated_defaults() -> None:
    assert args_of(render(), WORKER) == [
        "--model", MODEL,
        "--served-model-name", MODEL,
        "--enforce-eager",
        "--no-enable-prefix-caching",
    ]  # fmt: skip


def test_vllm_every_option() -> None:
    dgd = render(
        gpusPerReplica=4,
        enforceEager=False,
        enablePrefixCaching=True,
        trustRemoteCode=True,
        contextLength=8192,
        servedModelName="qwen-small",
        engineArgs=["--gpu-memory-utilization", "0.85"],
    )
    assert args_of(dgd, WORKER) == [
        "--model", MODEL,
        "--served-model-name", "qwen-small",
        "--tensor-parallel-size", "4",
        "--enable-prefix-caching",
        "--trust-remote-code",
        "--max-model-len", "8192",
        "--gpu-memory-utilization", "0.85",
    ]  # fmt: skip


def test_vllm_disaggregated_roles() -> None:
    dgd = render(mode="disaggregated", prefill={"replicas": 2, "gpus": 1}, decode={"replicas": 1, "gpus": 2})
    base = ["--model", MODEL, "--served-model-name", MODEL]
    assert args_of(dgd, PREFILL_WORKER) == [
        *base, "--enforce-eager", "--no-enable-prefix-caching",
        "--disaggregation-mode", "prefill", "--kv-transfer-config", VLLM_KV_TRANSFER_CONFIG,
    ]  # fmt: skip
    assert args_of(dgd, DECODE_WORKER) == [
        *base, "--tensor-parallel-size", "2", "--enforce-eager", "--no-enable-prefix-caching",
        "--disaggregation-mode", "decode", "--kv-transfer-config", VLLM_KV_TRANSFER_CONFIG,
    ]  # fmt: skip
    assert json.loads(VLLM_KV_TRANSFER_CONFIG) == {"kv_connector": "NixlConnector", "kv_role": "kv_both"}
    assert "--is-prefill-worker" not in args_of(dgd, PREFILL_WORKER)


def test_sglang_aggregated_defaults_and_options() -> None:
    assert args_of(render(engine="sglang"), WORKER) == [
        "--model-path", MODEL,
        "--served-model-name", MODEL,
        "--tp", "1",
        "--disable-cuda-graph",
        "--disable-radix-cache",
    ]  # fmt: skip
    dgd = render(
        engine="sglang", gpusPerReplica=2, enforceEager=False, enablePrefixCaching=True,
        trustRemoteCode=True, contextLength=4096, engineArgs=["--page-size", "16"],
    )  # fmt: skip
    assert args_of(dgd, WORKER) == [
        "--model-path", MODEL,
        "--served-model-name", MODEL,
        "--tp", "2",
        "--trust-remote-code",
        "--context-length", "4096",
        "--page-size", "16",
    ]  # fmt: skip


@pytest.mark.parametrize("role,key", [("prefill", PREFILL_WORKER), ("decode", DECODE_WORKER)])
def test_sglang_disaggregated_flags(role: str, key: str) -> None:
    dgd = render(engine="sglang", mode="disaggregated", enforceEager=False, enablePrefixCaching=True)
    assert args_of(dgd, key) == [
        "--model-path", MODEL,
        "--served-model-name", MODEL,
        "--tp", "1",
        "--disaggregation-mode", role,
        "--disaggregation-transfer-backend", "nixl",
        "--disaggregation-bootstrap-port", "12345",
        "--host", "0.0.0.0",
    ]  # fmt: skip


def test_trtllm_aggregated() -> None:
    assert args_of(render(engine="trtllm"), WORKER) == [
        "--model-path", MODEL,
        "--served-model-name", MODEL,
        "--tensor-parallel-size", "1",
    ]  # fmt: skip
    dgd = render(engine="trtllm", gpusPerReplica=2, contextLength=2048, trustRemoteCode=True)
    assert args_of(dgd, WORKER) == [
        "--model-path", MODEL,
        "--served-model-name", MODEL,
        "--tensor-parallel-size", "2",
        "--max-seq-len", "2048",
        "--override-engine-args", '{"trust_remote_code":true}',
    ]  # fmt: skip


def test_trtllm_disaggregated() -> None:
    dgd = render(engine="trtllm", mode="disaggregated")
    prefill, decode = args_of(dgd, PREFILL_WORKER), args_of(dgd, DECODE_WORKER)
    head = ["--model-path", MODEL, "--served-model-name", MODEL, "--tensor-parallel-size", "1"]
    assert prefill[:8] == [*head, "--disaggregation-mode", "prefill"]
    assert decode[:8] == [*head, "--disaggregation-mode", "decode"]
    assert prefill[8] == decode[8] == "--override-engine-args"
    assert json.loads(prefill[9]) == {
        "cache_transceiver_config": {"backend": "DEFAULT"},
        "disable_overlap_scheduler": True,
    }
    assert json.loads(decode[9]) == {"cache_transceiver_config": {"backend": "DEFAULT"}}
    assert len(prefill) == len(decode) == 10


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("engine", ENGINES)
def test_engine_args_are_appended_verbatim_last(engine: str, mode: str) -> None:
    extra = ["--max-num-seqs", "64", "--flag with spaces", '{"json": "value"}', "$(NOT_EXPANDED_HERE)"]
    dgd = render(engine=engine, mode=mode, engineArgs=extra)
    for key in worker_keys(mode):
        assert args_of(dgd, key)[-len(extra) :] == extra
    assert "--max-num-seqs" not in args_of(dgd, FRONTEND)


# --- rendering: resources, replicas, secret, image, router --------------------------------------


def test_gpus_and_replicas_aggregated() -> None:
    worker = render(replicas=3, gpusPerReplica=4)["spec"]["services"][WORKER]
    assert worker["replicas"] == 3
    assert worker["resources"] == {"requests": {"gpu": "4"}, "limits": {"gpu": "4"}}
    assert render(replicas=0)["spec"]["services"][WORKER]["replicas"] == 0


def test_gpus_and_replicas_disaggregated() -> None:
    services = render(
        mode="disaggregated", gpusPerReplica=8,
        prefill={"replicas": 3, "gpus": 2}, decode={"replicas": 0, "gpus": 4},
    )["spec"]["services"]  # fmt: skip
    assert services[PREFILL_WORKER]["replicas"] == 3
    assert services[PREFILL_WORKER]["resources"]["limits"] == {"gpu": "2"}
    assert services[DECODE_WORKER]["replicas"] == 0
    assert services[DECODE_WORKER]["resources"]["requests"] == {"gpu": "4"}
    # Unset roles default to one pod with one GPU each.
    defaults = render(mode="disaggregated")["spec"]["services"]
    for key in (PREFILL_WORKER, DECODE_WORKER):
        assert defaults[key]["replicas"] == 1
        assert defaults[key]["resources"]["limits"] == {"gpu": "1"}


def test_frontend_requests_no_gpu() -> None:
    assert "resources" not in render(gpusPerReplica=4)["spec"]["services"][FRONTEND]


@pytest.mark.parametrize("mode", MODES)
def test_hf_secret_is_referenced_by_name_on_workers_only(mode: str) -> None:
    dgd = render(mode=mode, hfTokenSecret="hf-token-secret")
    services = dgd["spec"]["services"]
    for key in worker_keys(mode):
        assert services[key]["envFromSecret"] == "hf-token-secret"
    assert "envFromSecret" not in services[FRONTEND]
    text = json.dumps(dgd)
    assert text.count("hf-token-secret") == len(worker_keys(mode))
    assert "HF_TOKEN" not in text and "secretKeyRef" not in text


def test_no_secret_reference_when_unset() -> None:
    assert "envFromSecret" not in json.dumps(render())


@pytest.mark.parametrize("mode", MODES)
def test_image_override_applies_to_every_service(mode: str) -> None:
    dgd = render(mode=mode, image="registry.example/dynamo/vllm-runtime:custom")
    for key in dgd["spec"]["services"]:
        assert main_container(dgd, key)["image"] == "registry.example/dynamo/vllm-runtime:custom"


def test_frontend_command_and_router_mode() -> None:
    frontend = main_container(render(), FRONTEND)
    assert frontend["command"] == ["python3"]
    assert frontend["args"] == ["-m", "dynamo.frontend"]
    assert args_of(render(routerMode="kv"), FRONTEND) == ["-m", "dynamo.frontend", "--router-mode", "kv"]
    assert args_of(render(mode="disaggregated"), FRONTEND) == [
        "-m", "dynamo.frontend", "--router-mode", "round-robin",
    ]  # fmt: skip
    assert args_of(render(mode="disaggregated", routerMode="random"), FRONTEND)[-1] == "random"


def test_render_is_deterministic() -> None:
    assert json.dumps(render(mode="disaggregated")) == json.dumps(render(mode="disaggregated"))


# --- recreate_reason ----------------------------------------------------------------------------


def test_in_place_updates_need_no_recreate() -> None:
    current = render(replicas=1)
    assert provider.recreate_reason(current, render(replicas=5, gpusPerReplica=2, routerMode="kv")) is None
    assert provider.recreate_reason(current, current) is None


def test_switching_mode_changes_services_and_needs_recreate() -> None:
    reason = provider.recreate_reason(render(), render(mode="disaggregated"))
    assert reason is not None
    assert PREFILL_WORKER in reason and DECODE_WORKER in reason and WORKER in reason
    assert "services" in reason


def test_changing_engine_needs_recreate() -> None:
    reason = provider.recreate_reason(render(engine="vllm"), render(engine="sglang"))
    assert reason is not None and "backendFramework" in reason and "sglang" in reason


def test_current_without_spec_needs_recreate() -> None:
    assert provider.recreate_reason({"metadata": {"name": "x"}}, render()) is not None


# --- read_status --------------------------------------------------------------------------------


def child(
    status: dict[str, Any] | None, *, generation: int = 3, mode: str = "aggregated", **fields: Any
) -> dict[str, Any]:
    dgd = render(mode=mode, **fields)
    dgd["metadata"]["generation"] = generation
    if status is not None:
        dgd["status"] = status
    return dgd


def ready_condition(status: str = "True", message: str = "All resources are ready") -> dict[str, Any]:
    return {
        "type": "Ready",
        "status": status,
        "reason": "all_resources_are_ready" if status == "True" else "some_resources_are_not_ready",
        "message": message,
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }


def test_missing_status() -> None:
    st = provider.read_status(child(None, replicas=2))
    assert not st.ready and not st.failed and not st.observed
    assert st.desired == 2 and st.ready_replicas == 0 and st.current == 0
    assert st.message


def test_successful_and_current_is_ready_and_counts_workers_only() -> None:
    st = provider.read_status(
        child(
            {
                "state": "successful",
                "observedGeneration": 3,
                "conditions": [ready_condition()],
                "services": {
                    FRONTEND: {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1},
                    PREFILL_WORKER: {"replicas": 2, "readyReplicas": 2, "availableReplicas": 2},
                    DECODE_WORKER: {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1},
                },
            },
            mode="disaggregated",
            prefill={"replicas": 2},
        )
    )
    assert st.ready and st.observed and not st.failed
    assert st.state == "successful"
    assert st.message == "All resources are ready"
    assert (st.desired, st.current, st.ready_replicas, st.available_replicas) == (3, 3, 3, 3)


def test_stale_observed_generation_is_not_ready() -> None:
    st = provider.read_status(
        child({"state": "successful", "observedGeneration": 2, "conditions": [ready_condition()]})
    )
    assert not st.ready and not st.observed
    assert "generation 3" in st.message


def test_absent_observed_generation_is_not_observed() -> None:
    st = provider.read_status(child({"state": "successful", "conditions": [ready_condition()]}))
    assert not st.ready and not st.observed


def test_ready_condition_false_is_not_ready_even_if_successful() -> None:
    st = provider.read_status(
        child({"state": "successful", "observedGeneration": 3, "conditions": [ready_condition("False")]})
    )
    assert not st.ready


def test_failed_reports_the_ready_message() -> None:
    message = "failed to reconcile: webhook denied the request"
    st = provider.read_status(
        child({"state": "failed", "observedGeneration": 3, "conditions": [ready_condition("False", message)]})
    )
    assert st.failed and not st.ready
    assert st.state == "failed"
    assert st.message == message


def test_pending_with_partial_replicas_and_missing_counts() -> None:
    st = provider.read_status(
        child(
            {
                "state": "pending",
                "observedGeneration": 3,
                "conditions": [ready_condition("False", "Resources not ready: qwen-worker: 1/3")],
                "services": {WORKER: {"replicas": 3, "readyReplicas": 1}},
            },
            replicas=3,
        )
    )
    assert not st.ready and not st.failed and st.observed
    assert (st.desired, st.current, st.ready_replicas, st.available_replicas) == (3, 3, 1, 0)
    assert st.message.startswith("Resources not ready")


# --- selectors, endpoint, installation ----------------------------------------------------------


def test_selectors_and_endpoint() -> None:
    assert provider.pod_selector("qwen") == "nvidia.com/dynamo-graph-deployment-name=qwen"
    assert provider.worker_selector("qwen") == (
        "nvidia.com/dynamo-graph-deployment-name=qwen,nvidia.com/dynamo-component-type=worker"
    )
    endpoint = provider.endpoint("qwen")
    assert (endpoint.service, endpoint.port) == ("qwen-frontend", 8000)


def test_resource_and_identity() -> None:
    res = provider.resource
    assert (res.group, res.version, res.plural, res.kind) == (
        "nvidia.com", "v1alpha1", "dynamographdeployments", "DynamoGraphDeployment",
    )  # fmt: skip
    assert res.namespaced
    assert provider.id == "dynamo" and provider.name and provider.description
    assert provider.instance_label == "nvidia.com/dynamo-graph-deployment-name"
    assert provider.pod_selector("x") == f"{provider.instance_label}=x"
    assert set(provider.supported_engines()) == set(ENGINES)


def test_install_spec() -> None:
    install = provider.install_spec()
    assert install.default_version == DYNAMO_VERSION == "1.0.1"
    assert install.namespace == "dynamo-system"
    charts = {c.chart: c for c in install.charts}
    assert set(charts) == {"dynamo-crds", "dynamo-platform"}
    assert charts["dynamo-crds"].only_before == "1.0.0"
    assert charts["dynamo-crds"].namespace == "default"
    assert charts["dynamo-platform"].only_before is None
    assert charts["dynamo-platform"].namespace == "dynamo-system"
    for chart in charts.values():
        assert chart.repository == "oci://helm.ngc.nvidia.com/nvidia/ai-dynamo/charts"
    assert {"dynamographdeployments.nvidia.com", "dynamocomponentdeployments.nvidia.com"} <= set(install.crd_names)
    assert install.operator_labels == {
        "app.kubernetes.io/name": "dynamo-operator",
        "control-plane": "controller-manager",
    }


# --- the real Dynamo CRD ------------------------------------------------------------------------


def schema_errors(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """A small structural check: field names exist at each level, types, enums and simple bounds match."""
    errors: list[str] = []
    here = path or "<root>"
    if schema.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, int | str):
            errors.append(f"{here}: expected int or string, got {type(value).__name__}")
        return errors
    expected = schema.get("type")
    checks: dict[str, Any] = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
    }
    if expected is not None and not checks[expected](value):
        return [f"{here}: expected {expected}, got {type(value).__name__} {value!r}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{here}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, dict):
        properties = schema.get("properties")
        additional = schema.get("additionalProperties")
        for key, sub in value.items():
            if properties is not None and key in properties:
                errors += schema_errors(sub, properties[key], f"{path}.{key}")
            elif isinstance(additional, dict):
                errors += schema_errors(sub, additional, f"{path}.{key}")
            elif not schema.get("x-kubernetes-preserve-unknown-fields") and properties is not None:
                errors.append(f"{here}: unknown field {key!r}")
        for key in schema.get("required") or []:
            if key not in value:
                errors.append(f"{here}: missing required field {key!r}")
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            errors.append(f"{here}: more than {schema['maxProperties']} properties")
    elif isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{here}: more than {schema['maxItems']} items")
        for i, item in enumerate(value):
            errors += schema_errors(item, schema.get("items") or {}, f"{path}[{i}]")
    elif isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{here}: longer than {schema['maxLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{here}: does not match {schema['pattern']}")
    elif isinstance(value, int) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{here}: below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{here}: above {schema['maximum']}")
    return errors


def provider_crds_dir() -> Path:
    return Path(os.environ.get("KUBEFOUNDRY_PROVIDER_CRDS") or REPO_ROOT.parent / "shared" / "crds")


def dgd_schema() -> dict[str, Any]:
    path = provider_crds_dir() / "dynamo" / "nvidia.com_dynamographdeployments.yaml"
    if not path.is_file():
        pytest.skip(f"Dynamo CRD not found at {path}; set KUBEFOUNDRY_PROVIDER_CRDS to the provider CRDs folder")
    crd = yaml.safe_load(path.read_text(encoding="utf-8"))
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def test_schema_checker_catches_mistakes() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string", "enum": ["x"]}, "n": {"type": "integer"}},
        "required": ["a"],
    }
    assert schema_errors({"a": "x", "n": 1}, schema) == []
    assert len(schema_errors({"a": "y", "n": "1", "zz": True}, schema)) == 3
    assert schema_errors({}, schema) == ["<root>: missing required field 'a'"]


VARIANTS: list[dict[str, Any]] = [
    {"engine": engine, "mode": mode}
    for engine in ENGINES
    for mode in MODES
] + [
    {
        "engine": "vllm", "replicas": 0, "gpusPerReplica": 8, "hfTokenSecret": "hf-token-secret",
        "servedModelName": "qwen", "contextLength": 32768, "enforceEager": False, "enablePrefixCaching": True,
        "trustRemoteCode": True, "routerMode": "kv", "engineArgs": ["--max-num-seqs", "64"],
        "image": "registry.example/vllm:custom",
    },
    {
        "engine": "sglang", "mode": "disaggregated", "hfTokenSecret": "hf", "routerMode": "kv",
        "prefill": {"replicas": 4, "gpus": 2}, "decode": {"replicas": 2, "gpus": 8},
    },
    {"engine": "trtllm", "mode": "disaggregated", "trustRemoteCode": True, "contextLength": 1024},
]  # fmt: skip


@pytest.mark.parametrize("fields", VARIANTS, ids=lambda f: "-".join(str(v) for v in f.values())[:60])
def test_rendered_dgd_matches_the_real_dynamo_crd(fields: dict[str, Any]) -> None:
    schema = dgd_schema()
    dgd = provider.render("a" * MAX_NAME_LENGTH, "team-a", spec(**fields))
    assert schema_errors(dgd, schema) == []


def test_replicas_stay_one_in_disaggregated_mode() -> None:
    with pytest.raises(ValidationError, match="in disaggregated mode it stays 1"):
        KubeFoundryDeploymentSpec.model_validate({"modelId": "m/x", "mode": "disaggregated", "replicas": 2})
    spec = KubeFoundryDeploymentSpec.model_validate({"modelId": "m/x", "mode": "disaggregated"})
    assert spec.replicas == 1 and spec.desired_worker_replicas() == 2

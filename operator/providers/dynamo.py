"""NVIDIA Dynamo: a KubeFoundryDeployment becomes one `nvidia.com/v1alpha1` DynamoGraphDeployment.

Where the facts come from (Dynamo = github.com/ai-dynamo/dynamo; "@df888f6" = the commit whose CRDs
this module is checked against in the unit tests, chart/runtime release v1.0.1):

- DGD shape (`spec.backendFramework`, `spec.services.<key>.{componentType, subComponentType, replicas,
  resources.{requests,limits}.gpu (strings), envFromSecret, extraPodSpec.mainContainer}`): the CRD
  `deploy/operator/config/crd/bases/nvidia.com_dynamographdeployments.yaml` @df888f6; every rendered
  object is validated against it by `tests/unit/test_dynamo_render.py`.
- Service keys: the admission webhook requires `len(dgdName) + len(lower(serviceKey)) <= 45` on the
  Grove pathway, and worker Deployments are named `<dgd>-<lower(key)>-<8 hex>` (must stay a 63-char
  DNS label). With names of at most MAX_NAME_LENGTH (32) characters the keys below (at most 13
  characters) fit both.
- The webhook rejects updates that add or remove services or change `backendFramework`
  (`internal/webhook/validation/`), hence `recreate_reason`.
- The operator merges `extraPodSpec.mainContainer` over its defaults with `mergo.WithOverride`
  (`internal/dynamo/graph.go`), so non-empty `command`/`args` replace the defaults. The frontend's
  defaults are `command: [python3]`, `args: [-m, dynamo.frontend]` (`component_frontend.go`); we render
  the same split so a missing `args` can never leave the defaults half-replaced.
- Worker command `python3 -m dynamo.<engine>` and flags: `examples/backends/*/deploy/*.yaml` and the
  argument parsers `components/src/dynamo/{vllm,sglang,trtllm,frontend}/`:
  * vLLM: Dynamo passes unknown flags to vLLM's `AsyncEngineArgs.add_cli_args`: `--model`,
    `--served-model-name`, `--tensor-parallel-size`, `--enforce-eager`, `--[no-]enable-prefix-caching`
    (a BooleanOptionalAction; vLLM turns prefix caching on when unset, so false is explicit),
    `--trust-remote-code`, `--max-model-len`. Disaggregation since Dynamo 1.0: `--disaggregation-mode
    prefill|decode` (the older `--is-prefill-worker` is deprecated) and, since #6450, an explicit
    `--kv-transfer-config` with the NIXL connector, without which a prefill worker refuses to start;
    upstream's `disagg.sh` passes it to decode workers too.
  * SGLang (`ServerArgs`): `--model-path`, `--served-model-name`, `--tp`, `--trust-remote-code`,
    `--context-length`, `--disable-cuda-graph`, `--disable-radix-cache` (SGLang's prefix cache);
    disaggregation as in `examples/backends/sglang/deploy/disagg.yaml`: `--disaggregation-mode`,
    `--disaggregation-transfer-backend nixl`, `--disaggregation-bootstrap-port 12345`, `--host 0.0.0.0`.
  * TensorRT-LLM (Dynamo's own parser, `components/src/dynamo/trtllm/`): `--model-path` (alias of
    `--model`), `--served-model-name`, `--tensor-parallel-size`, `--max-seq-len`,
    `--disaggregation-mode prefill|decode`, and `--override-engine-args <JSON>` merged over the LLM API
    arguments. TRT-LLM needs `cache_transceiver_config` to move the KV cache between disaggregated
    workers, and prefill-only workers run without the overlap scheduler (upstream's
    `engine_configs/qwen3/{prefill,decode}.yaml`); `trust_remote_code` is an LLM API argument too.
    enforceEager and enablePrefixCaching have no TRT-LLM flag here; engineArgs can set them.
  * Frontend `python3 -m dynamo.frontend [--router-mode round-robin|random|kv|...]`, default
    round-robin (`frontend_args.py`, router arg group); Service `<dgd>-frontend` on port 8000.
- Pod labels `nvidia.com/dynamo-graph-deployment-name`, `nvidia.com/dynamo-component-type`
  (`internal/consts/consts.go`); status meanings (`state`, `Ready` condition, `observedGeneration` set
  only after an error-free reconcile, `status.services.<key>` replica counts):
  `dynamographdeployment_controller.go`.
- Installation: charts `dynamo-platform` and (before 1.0.0 only) `dynamo-crds` from NGC's Helm
  registry; operator Deployment labels from the platform chart's operator templates.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from ..models.deployment import Engine, KubeFoundryDeploymentSpec, Mode
from ..runtime.kube import JSON, Resource
from .base import ChildStatus, EndpointInfo, HelmChart, InstallSpec, Provider

# The Dynamo release whose CRDs, charts and runtime images this provider targets.
DYNAMO_VERSION = "1.0.1"

IMAGE_REGISTRY = "nvcr.io/nvidia/ai-dynamo"
RUNTIME_IMAGES: dict[str, str] = {
    Engine.VLLM: "vllm-runtime",
    Engine.SGLANG: "sglang-runtime",
    Engine.TRTLLM: "tensorrtllm-runtime",
}
# The runtime images' WORKDIR; nothing we render uses relative paths.
WORKING_DIR = "/workspace"

# Service keys (see the module docstring for the length budget).
FRONTEND = "Frontend"
WORKER = "Worker"
PREFILL_WORKER = "PrefillWorker"
DECODE_WORKER = "DecodeWorker"

# Component types Dynamo counts as workers (`IsWorkerComponent`).
WORKER_COMPONENT_TYPES = frozenset({"worker", "prefill", "decode"})

FRONTEND_PORT = 8000
DEFAULT_DISAGG_ROUTER_MODE = "round-robin"

# vLLM disaggregation: the exact connector JSON Dynamo's examples pass (one argv item, not shell-quoted).
VLLM_KV_TRANSFER_CONFIG = '{"kv_connector":"NixlConnector","kv_role":"kv_both"}'
SGLANG_BOOTSTRAP_PORT = "12345"

HELM_REGISTRY = "oci://helm.ngc.nvidia.com/nvidia/ai-dynamo/charts"
PLATFORM_NAMESPACE = "dynamo-system"

LABEL_DGD_NAME = "nvidia.com/dynamo-graph-deployment-name"
LABEL_COMPONENT_TYPE = "nvidia.com/dynamo-component-type"

Role = Literal["prefill", "decode"]


def runtime_image(engine: str, version: str = DYNAMO_VERSION) -> str:
    return f"{IMAGE_REGISTRY}/{RUNTIME_IMAGES[engine]}:{version}"


def served_model_name(spec: KubeFoundryDeploymentSpec) -> str:
    return spec.servedModelName or spec.modelId


def worker_args(spec: KubeFoundryDeploymentSpec, gpus: int, role: Role | None = None) -> list[str]:
    """The argv after `python3 -m dynamo.<engine>` for one worker service, engineArgs last."""
    engine = str(spec.engine)
    if engine == Engine.VLLM:
        args = _vllm_args(spec, gpus, role)
    elif engine == Engine.SGLANG:
        args = _sglang_args(spec, gpus, role)
    elif engine == Engine.TRTLLM:
        args = _trtllm_args(spec, gpus, role)
    else:  # pragma: no cover - the model's enum prevents it
        raise ValueError(f"Dynamo does not support engine {engine!r}")
    return args + list(spec.engineArgs)


def _vllm_args(spec: KubeFoundryDeploymentSpec, gpus: int, role: Role | None) -> list[str]:
    args = ["--model", spec.modelId, "--served-model-name", served_model_name(spec)]
    if gpus > 1:
        args += ["--tensor-parallel-size", str(gpus)]
    if spec.enforceEager:
        args.append("--enforce-eager")
    args.append("--enable-prefix-caching" if spec.enablePrefixCaching else "--no-enable-prefix-caching")
    if spec.trustRemoteCode:
        args.append("--trust-remote-code")
    if spec.contextLength is not None:
        args += ["--max-model-len", str(spec.contextLength)]
    if role is not None:
        args += ["--disaggregation-mode", role, "--kv-transfer-config", VLLM_KV_TRANSFER_CONFIG]
    return args


def _sglang_args(spec: KubeFoundryDeploymentSpec, gpus: int, role: Role | None) -> list[str]:
    args = ["--model-path", spec.modelId, "--served-model-name", served_model_name(spec), "--tp", str(gpus)]
    if spec.enforceEager:
        args.append("--disable-cuda-graph")
    if not spec.enablePrefixCaching:
        args.append("--disable-radix-cache")
    if spec.trustRemoteCode:
        args.append("--trust-remote-code")
    if spec.contextLength is not None:
        args += ["--context-length", str(spec.contextLength)]
    if role is not None:
        args += [
            "--disaggregation-mode", role,
            "--disaggregation-transfer-backend", "nixl",
            "--disaggregation-bootstrap-port", SGLANG_BOOTSTRAP_PORT,
            "--host", "0.0.0.0",
        ]  # fmt: skip
    return args


def _trtllm_args(spec: KubeFoundryDeploymentSpec, gpus: int, role: Role | None) -> list[str]:
    args = [
        "--model-path", spec.modelId,
        "--served-model-name", served_model_name(spec),
        "--tensor-parallel-size", str(gpus),
    ]  # fmt: skip
    if spec.contextLength is not None:
        args += ["--max-seq-len", str(spec.contextLength)]
    if role is not None:
        args += ["--disaggregation-mode", role]
    overrides: dict[str, Any] = {}
    if spec.trustRemoteCode:
        overrides["trust_remote_code"] = True
    if role is not None:
        overrides["cache_transceiver_config"] = {"backend": "DEFAULT"}
        if role == "prefill":
            overrides["disable_overlap_scheduler"] = True
    if overrides:
        args += ["--override-engine-args", json.dumps(overrides, sort_keys=True, separators=(",", ":"))]
    return args


def _gpu_resources(gpus: int) -> JSON:
    return {"requests": {"gpu": str(gpus)}, "limits": {"gpu": str(gpus)}}


class DynamoProvider(Provider):
    id = "dynamo"
    name = "NVIDIA Dynamo"
    description = (
        "NVIDIA Dynamo's Kubernetes operator: vLLM, SGLang or TensorRT-LLM workers behind an "
        "OpenAI-compatible frontend, aggregated or with disaggregated prefill and decode."
    )
    resource = Resource("nvidia.com", "v1alpha1", "dynamographdeployments", "DynamoGraphDeployment")
    # Dynamo puts the DGD name on every pod it creates (frontend and workers, both pathways).
    instance_label = LABEL_DGD_NAME

    # --- rendering -----------------------------------------------------------------------------

    def render(self, name: str, namespace: str, spec: KubeFoundryDeploymentSpec) -> JSON:
        image = spec.image or runtime_image(str(spec.engine))
        services: JSON = {FRONTEND: self._frontend(spec, image)}
        if spec.mode == Mode.DISAGGREGATED:
            prefill, decode = spec.prefill_role(), spec.decode_role()
            services[PREFILL_WORKER] = self._worker(spec, image, prefill.replicas, prefill.gpus, "prefill")
            services[DECODE_WORKER] = self._worker(spec, image, decode.replicas, decode.gpus, "decode")
        else:
            services[WORKER] = self._worker(spec, image, spec.replicas, spec.gpusPerReplica, None)
        return {
            "apiVersion": self.resource.api_version,
            "kind": self.resource.kind,
            "metadata": {"name": name, "namespace": namespace, "labels": self.labels(name)},
            "spec": {"backendFramework": str(spec.engine), "services": services},
        }

    @staticmethod
    def labels(name: str) -> dict[str, str]:
        return {
            "app.kubernetes.io/name": "kubefoundry",
            "app.kubernetes.io/instance": name,
            "app.kubernetes.io/managed-by": "kubefoundry",
            "kubefoundry.io/deployment": name,
        }

    @staticmethod
    def _frontend(spec: KubeFoundryDeploymentSpec, image: str) -> JSON:
        router_mode: str | None = spec.routerMode
        if router_mode is None and spec.mode == Mode.DISAGGREGATED:
            router_mode = DEFAULT_DISAGG_ROUTER_MODE
        args = ["-m", "dynamo.frontend"]
        if router_mode is not None:
            args += ["--router-mode", str(router_mode)]
        return {
            "componentType": "frontend",
            "replicas": 1,
            "extraPodSpec": {
                "mainContainer": {"image": image, "command": ["python3"], "args": args},
            },
        }

    @staticmethod
    def _worker(spec: KubeFoundryDeploymentSpec, image: str, replicas: int, gpus: int, role: Role | None) -> JSON:
        service: JSON = {"componentType": "worker"}
        if role is not None:
            service["subComponentType"] = role
        service["replicas"] = replicas
        service["resources"] = _gpu_resources(gpus)
        if spec.hfTokenSecret:
            service["envFromSecret"] = spec.hfTokenSecret
        service["extraPodSpec"] = {
            "mainContainer": {
                "image": image,
                "workingDir": WORKING_DIR,
                "command": ["python3", "-m", f"dynamo.{spec.engine}"],
                "args": worker_args(spec, gpus, role),
            }
        }
        return service

    # --- updates and status ---------------------------------------------------------------------

    def recreate_reason(self, current: JSON, desired: JSON) -> str | None:
        cur_spec = current.get("spec") or {}
        new_spec = desired.get("spec") or {}
        cur_keys = set((cur_spec.get("services") or {}).keys())
        new_keys = set((new_spec.get("services") or {}).keys())
        if cur_keys != new_keys:
            added, removed = sorted(new_keys - cur_keys), sorted(cur_keys - new_keys)
            parts = []
            if added:
                parts.append("adds " + ", ".join(added))
            if removed:
                parts.append("removes " + ", ".join(removed))
            return (
                f"the change {' and '.join(parts)}; Dynamo cannot add or remove services of an "
                "existing DynamoGraphDeployment (for example when switching between aggregated "
                "and disaggregated mode)"
            )
        cur_backend = cur_spec.get("backendFramework")
        new_backend = new_spec.get("backendFramework")
        if cur_backend != new_backend:
            return (
                f"the engine changes from {cur_backend or 'unset'} to {new_backend or 'unset'}; "
                "Dynamo's backendFramework is immutable"
            )
        return None

    def read_status(self, child: JSON) -> ChildStatus:
        spec = child.get("spec") or {}
        status = child.get("status") or {}
        services_spec: dict[str, Any] = spec.get("services") or {}
        workers = sorted(
            key
            for key, svc in services_spec.items()
            if isinstance(svc, dict) and svc.get("componentType") in WORKER_COMPONENT_TYPES
        )
        desired = sum(_int(services_spec[key].get("replicas"), default=1) for key in workers)

        if not status:
            return ChildStatus(
                ready=False,
                state="",
                message="Waiting for the Dynamo operator to report status",
                desired=desired,
                current=0,
                ready_replicas=0,
                available_replicas=0,
                observed=False,
            )

        services_status: dict[str, Any] = status.get("services") or {}
        current = ready_replicas = available = 0
        for key in workers:
            svc = services_status.get(key) or {}
            current += _int(svc.get("replicas"))
            ready_replicas += _int(svc.get("readyReplicas"))
            available += _int(svc.get("availableReplicas"))

        state = str(status.get("state") or "")
        ready_cond = next(
            (c for c in status.get("conditions") or [] if isinstance(c, dict) and c.get("type") == "Ready"),
            None,
        )
        ready_true = bool(ready_cond) and str((ready_cond or {}).get("status")) == "True"
        observed_generation = status.get("observedGeneration")
        generation = (child.get("metadata") or {}).get("generation")
        observed = observed_generation is not None and observed_generation == generation

        message = str((ready_cond or {}).get("message") or "")
        if not message:
            message = f"DynamoGraphDeployment state is {state}" if state else "No Ready condition yet"
        if not observed and observed_generation is not None:
            message = (
                f"The Dynamo operator has not yet processed generation {generation} "
                f"(last seen {observed_generation}). {message}"
            )

        return ChildStatus(
            ready=state == "successful" and ready_true and observed,
            state=state,
            message=message,
            failed=state == "failed",
            desired=desired,
            current=current,
            ready_replicas=ready_replicas,
            available_replicas=available,
            observed=observed,
        )

    # --- selectors and endpoint -----------------------------------------------------------------

    def pod_selector(self, name: str) -> str:
        return f"{LABEL_DGD_NAME}={name}"

    def worker_selector(self, name: str) -> str:
        return f"{LABEL_DGD_NAME}={name},{LABEL_COMPONENT_TYPE}=worker"

    def endpoint(self, name: str) -> EndpointInfo:
        # Dynamo names the frontend Service `<dgd>-<lower(serviceKey)>`.
        return EndpointInfo(f"{name}-{FRONTEND.lower()}", FRONTEND_PORT)

    # --- installation ---------------------------------------------------------------------------

    def install_spec(self) -> InstallSpec:
        return InstallSpec(
            default_version=DYNAMO_VERSION,
            namespace=PLATFORM_NAMESPACE,
            charts=(
                # Deprecated since 1.0.0 (the platform chart carries the CRDs); last release 0.9.1.
                HelmChart(
                    release="dynamo-crds",
                    chart="dynamo-crds",
                    repository=HELM_REGISTRY,
                    namespace="default",
                    version=DYNAMO_VERSION,
                    create_namespace=False,
                    only_before="1.0.0",
                ),
                HelmChart(
                    release="dynamo-platform",
                    chart="dynamo-platform",
                    repository=HELM_REGISTRY,
                    namespace=PLATFORM_NAMESPACE,
                    version=DYNAMO_VERSION,
                ),
            ),
            crd_names=(
                "dynamographdeployments.nvidia.com",
                "dynamocomponentdeployments.nvidia.com",
            ),
            operator_labels={
                "app.kubernetes.io/name": "dynamo-operator",
                "control-plane": "controller-manager",
            },
        )


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    return default

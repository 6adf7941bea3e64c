"""KubeFoundryDeployment: a model served by an inference provider.

These pydantic models are the single source of truth for the resource's shape: the CRD in
`crds/` and the REST API's OpenAPI document are generated from them, and the API validates
request bodies with them before the API server validates them again against the CRD.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, Field, model_validator

from ..runtime.kube import Resource
from .common import GROUP, VERSION, CamelModel, Condition

KIND = "KubeFoundryDeployment"
PLURAL = "kubefoundrydeployments"
KFD = Resource(GROUP, VERSION, PLURAL, KIND)
SINGULAR = "kubefoundrydeployment"
SHORT_NAMES = ["kfd"]

# Dynamo names children `<name>-<service>` plus an 8-character hash, and Grove allows at most 45
# characters for name + service; 32 leaves room for every provider's derived names.
MAX_NAME_LENGTH = 32
NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"

# A Hugging Face repository id: `org/name` or `name`, letters, digits, `-`, `_`, `.`, each part starting and
# ending with a letter or digit; no `--`/`..` (the Hub refuses them) and at most 96 characters per part.
# Written without lookahead, which neither the API server's regular expressions (RE2) nor pydantic's (Rust)
# have: between two word characters stands at most one run of separators, and a run alternates `-` and `.`.
_HF_SEPARATORS = r"(?:-(?:\.-)*\.?|\.(?:-\.)*-?)"
_HF_PART = rf"[A-Za-z0-9](?:(?:{_HF_SEPARATORS}?[A-Za-z0-9_])*{_HF_SEPARATORS}?[A-Za-z0-9])?"
MODEL_ID_PATTERN = rf"^{_HF_PART}(?:/{_HF_PART})?$"
MODEL_ID_PART_MAX = 96
SECRET_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

# An OCI image reference, the grammar of distribution/reference (what container runtimes parse):
# [host[:port]/]path[:tag][@digest], path components lower case.
_OCI_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_OCI_DOMAIN = rf"(?:{_OCI_DOMAIN_COMPONENT}(?:\.{_OCI_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_OCI_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_OCI_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_OCI_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_PATTERN = (
    rf"^(?:{_OCI_DOMAIN}/)?{_OCI_PATH_COMPONENT}(?:/{_OCI_PATH_COMPONENT})*(?::{_OCI_TAG})?(?:@{_OCI_DIGEST})?$"
)


MODEL_ID_PART_MESSAGE = f"each part of a Hugging Face model id has at most {MODEL_ID_PART_MAX} characters"


def _model_id_parts(value: str) -> str:
    if any(len(part) > MODEL_ID_PART_MAX for part in value.split("/")):
        raise ValueError(MODEL_ID_PART_MESSAGE)
    return value


class Engine(StrEnum):
    VLLM = "vllm"
    SGLANG = "sglang"
    TRTLLM = "trtllm"


class Mode(StrEnum):
    AGGREGATED = "aggregated"
    DISAGGREGATED = "disaggregated"


class RouterMode(StrEnum):
    ROUND_ROBIN = "round-robin"
    RANDOM = "random"
    KV = "kv"


class Phase(StrEnum):
    PENDING = "Pending"
    DEPLOYING = "Deploying"
    RUNNING = "Running"
    FAILED = "Failed"
    TERMINATING = "Terminating"


class WorkerRole(CamelModel):
    """One disaggregated role (prefill or decode)."""

    replicas: Annotated[int, Field(description="Worker pods for this role.", ge=0, le=64)] = 1
    gpus: Annotated[int, Field(description="GPUs per worker pod of this role.", ge=1, le=8)] = 1


DISAGGREGATED_REPLICAS = (
    "replicas (and kubectl scale) applies to aggregated mode; in disaggregated mode it stays 1 and "
    "prefill.replicas and decode.replicas set the workers"
)


class KubeFoundryDeploymentSpec(CamelModel):
    """What to serve and how. Every field but modelId has a default."""

    modelId: Annotated[
        str,
        Field(
            description="Hugging Face model id, for example Qwen/Qwen3-0.6B.",
            min_length=1,
            max_length=192,
            pattern=MODEL_ID_PATTERN,
            json_schema_extra={
                "x-kubernetes-validations": [
                    {
                        "rule": f"self.split('/').all(part, size(part) <= {MODEL_ID_PART_MAX})",
                        "message": MODEL_ID_PART_MESSAGE,
                    }
                ]
            },
        ),
        AfterValidator(_model_id_parts),
    ]
    provider: Annotated[
        str | None,
        Field(
            description=(
                "Inference provider (dynamo, kuberay, kaito). Empty: the cluster's active provider at "
                "creation time, recorded in status.provider and kept afterwards."
            ),
            min_length=1,
            max_length=63,
        ),
    ] = None
    engine: Annotated[Engine, Field(description="Inference engine: vllm, sglang or trtllm.")] = Engine.VLLM
    mode: Annotated[
        Mode,
        Field(description="aggregated: one worker does prefill and decode; disaggregated: separate workers."),
    ] = Mode.AGGREGATED
    replicas: Annotated[
        int,
        Field(
            description=(
                "Worker replicas in aggregated mode (kubectl scale changes it). Zero stops the workers. "
                "Stays 1 in disaggregated mode, where prefill.replicas and decode.replicas apply."
            ),
            ge=0,
            le=64,
        ),
    ] = 1
    gpusPerReplica: Annotated[
        int, Field(description="GPUs per worker pod in aggregated mode (tensor parallel size).", ge=1, le=8)
    ] = 1
    prefill: Annotated[WorkerRole | None, Field(description="Prefill workers; disaggregated mode only.")] = None
    decode: Annotated[WorkerRole | None, Field(description="Decode workers; disaggregated mode only.")] = None
    hfTokenSecret: Annotated[
        str | None,
        Field(
            description=(
                "Name of a Secret in the same namespace whose HF_TOKEN key holds a Hugging Face token. "
                "Referenced by name only: KubeFoundry never reads it."
            ),
            max_length=253,
            pattern=SECRET_NAME_PATTERN,
        ),
    ] = None
    servedModelName: Annotated[
        str | None,
        Field(
            description="Model name clients send in OpenAI requests; defaults to modelId.",
            min_length=1,
            max_length=192,
            pattern=r"^[^\s]+$",
        ),
    ] = None
    contextLength: Annotated[
        int | None,
        Field(
            description="Maximum context length in tokens (the engine's max model/sequence length).",
            ge=1,
            le=10_000_000,
        ),
    ] = None
    enforceEager: Annotated[
        bool, Field(description="Run eagerly without CUDA graphs: faster start, slower serving.")
    ] = True
    enablePrefixCaching: Annotated[bool, Field(description="Reuse the KV cache of shared prompt prefixes.")] = False
    trustRemoteCode: Annotated[bool, Field(description="Allow the model repository's own Python code to run.")] = False
    routerMode: Annotated[
        RouterMode | None, Field(description="How the frontend picks a worker: round-robin, random or kv.")
    ] = None
    engineArgs: Annotated[
        list[Annotated[str, Field(max_length=4096)]],
        Field(
            description="Extra engine arguments, one argv item each (for example --max-num-seqs, 64).",
            max_length=64,
        ),
    ] = Field(default_factory=list)
    image: Annotated[
        str | None,
        Field(
            description="Container image override for the engine runtime: an OCI reference [host/]path[:tag][@digest].",
            max_length=512,
            pattern=IMAGE_PATTERN,
        ),
    ] = None

    @model_validator(mode="after")
    def _roles_only_when_disaggregated(self) -> KubeFoundryDeploymentSpec:
        if self.mode == Mode.AGGREGATED and (self.prefill is not None or self.decode is not None):
            raise ValueError("prefill and decode are only allowed when mode is disaggregated")
        if self.mode == Mode.DISAGGREGATED and self.replicas != 1:
            raise ValueError(DISAGGREGATED_REPLICAS)
        return self

    def prefill_role(self) -> WorkerRole:
        return self.prefill or WorkerRole()

    def decode_role(self) -> WorkerRole:
        return self.decode or WorkerRole()

    def desired_worker_replicas(self) -> int:
        if self.mode == Mode.DISAGGREGATED:
            return self.prefill_role().replicas + self.decode_role().replicas
        return self.replicas


# Rules the API server enforces at `kubectl apply` time (pydantic enforces the same ones above).
SPEC_VALIDATIONS: list[dict[str, str]] = [
    {
        "rule": "self.mode == 'disaggregated' || (!has(self.prefill) && !has(self.decode))",
        "message": "prefill and decode are only allowed when mode is disaggregated",
        "fieldPath": ".mode",
        "reason": "FieldValueForbidden",
    },
    {
        # Also refuses `kubectl scale` (and an HPA) on a disaggregated deployment, rather than ignoring it.
        "rule": "self.mode != 'disaggregated' || !has(self.replicas) || self.replicas == 1",
        "message": DISAGGREGATED_REPLICAS,
        "fieldPath": ".replicas",
        "reason": "FieldValueInvalid",
    },
]


class ProviderRef(CamelModel):
    """The provider resource this deployment owns."""

    apiVersion: Annotated[str, Field(description="API version of the provider resource.")]
    kind: Annotated[str, Field(description="Kind of the provider resource.")]
    name: Annotated[str, Field(description="Name of the provider resource (same namespace).")]


class Endpoint(CamelModel):
    """Where the OpenAI-compatible API is served inside the cluster."""

    service: Annotated[str, Field(description="Service name in the deployment's namespace.")]
    port: Annotated[int, Field(description="Service port.")]
    url: Annotated[str, Field(description="In-cluster base URL of the OpenAI API.")] = ""


class KubeFoundryDeploymentStatus(CamelModel):
    """Observed state. Written only by the operator."""

    observedGeneration: Annotated[int | None, Field(description="The generation the status reflects.")] = None
    phase: Annotated[
        Phase | None, Field(description="Summary for people and printer columns; programs read conditions.")
    ] = None
    provider: Annotated[str | None, Field(description="The provider serving this deployment.")] = None
    conditions: Annotated[
        list[Condition],
        Field(
            description="Ready, ProviderInstalled, ProviderResourceAccepted, PodsScheduled.",
            json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
        ),
    ] = Field(default_factory=list)
    desiredReplicas: Annotated[int | None, Field(description="Worker pods wanted.")] = None
    replicas: Annotated[int | None, Field(description="Worker pods that exist.")] = None
    readyReplicas: Annotated[int | None, Field(description="Worker pods that are Ready.")] = None
    availableReplicas: Annotated[int | None, Field(description="Worker pods that are available.")] = None
    selector: Annotated[
        str | None, Field(description="Label selector of the worker pods (the scale subresource reads it).")
    ] = None
    podSelector: Annotated[str | None, Field(description="Label selector of every pod of this deployment.")] = None
    providerResource: Annotated[ProviderRef | None, Field(description="The provider resource created.")] = None
    endpoint: Annotated[Endpoint | None, Field(description="The OpenAI-compatible endpoint, once it exists.")] = None


class KubeFoundryDeployment(CamelModel):
    """The whole object as stored (metadata stays a plain mapping)."""

    apiVersion: str
    kind: str
    metadata: dict[str, Any]
    spec: KubeFoundryDeploymentSpec
    status: KubeFoundryDeploymentStatus | None = None

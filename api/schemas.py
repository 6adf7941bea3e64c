# mypy: disallow-subclassing-any=False
# (`mypy operator api` resolves `kubefoundry.operator` as Any, and these models extend the operator's.)
"""Request and response shapes of the REST API, as pydantic models.

Requests are validated with these models (the deployment body reuses the operator's
``KubeFoundryDeploymentSpec``, the model the CRD is generated from), and the OpenAPI document is
generated from them, so what is documented is what is checked.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kubefoundry.operator.models.common import CamelModel, Condition
from kubefoundry.operator.models.deployment import (
    MAX_NAME_LENGTH,
    NAME_PATTERN,
    Endpoint,
    KubeFoundryDeploymentSpec,
    Phase,
)
from kubefoundry.operator.providers import provider_ids

from .errors import Code

NAMESPACE_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
NAMESPACE_MAX_LENGTH = 63

DeploymentName = Annotated[
    str,
    Field(
        description=f"The KubeFoundryDeployment's name: a DNS label of at most {MAX_NAME_LENGTH} characters.",
        min_length=1,
        max_length=MAX_NAME_LENGTH,
        pattern=NAME_PATTERN,
    ),
]
Namespace = Annotated[
    str,
    Field(
        description="A Kubernetes namespace (DNS label).",
        min_length=1,
        max_length=NAMESPACE_MAX_LENGTH,
        pattern=NAMESPACE_PATTERN,
    ),
]


class Response(BaseModel):
    """Responses carry exactly the documented fields."""

    model_config = ConfigDict(extra="forbid")


# --- errors ---------------------------------------------------------------------------------------


class ErrorDetail(Response):
    field: Annotated[str, Field(description="The offending field (dotted path), empty when none applies.")]
    message: str
    type: Annotated[str, Field(description="A machine-readable kind of problem.")]


class ErrorDetails(BaseModel):
    """Always an object: {} when there is nothing to add. Keys besides these depend on `reason`."""

    model_config = ConfigDict(extra="allow")

    fields: Annotated[list[ErrorDetail], Field(description="Per-field problems, when there are any.")] = Field(
        default_factory=list
    )
    reason: Annotated[
        str,
        Field(
            description=(
                "Why a request was refused as a whole, e.g. invalid_json (with position, line, column), "
                "not_an_object, too_large (limit), unsupported_media_type, unsupported_content_encoding "
                "(accepted), invalid_content_encoding, incomplete_body, origin_not_allowed, host_not_allowed, "
                "rbac_denied (permission)."
            ),
            json_schema_extra=lambda schema: schema.pop("default", None),
        ),
    ] = ""


class ErrorResponse(Response):
    error: Annotated[str, Field(description="What went wrong, for people.")]
    code: Annotated[Code, Field(description="What went wrong, for programs.")]
    details: Annotated[ErrorDetails, Field(description="More about the error: always an object.")]


# --- health, cluster, settings ----------------------------------------------------------------------


class HealthResponse(Response):
    status: Literal["ok"]


class ClusterStatus(Response):
    connected: Annotated[bool, Field(description="Whether the Kubernetes API answers.")]
    namespace: Annotated[str, Field(description="The default namespace for new deployments.")]
    providerId: Annotated[str, Field(description="The active provider.")]
    providerInstalled: Annotated[
        bool,
        Field(
            description=(
                "Whether the active provider's CRDs exist and its operator Deployment is Available "
                "(false when the cluster cannot be reached)."
            )
        ),
    ]


class ProviderInfo(Response):
    id: str
    name: str
    description: str


class SettingsResponse(Response):
    activeProviderId: Annotated[str, Field(description="The provider new deployments get when they name none.")]
    providers: Annotated[list[ProviderInfo], Field(description="Every registered provider.")]


def _registered_ids(schema: dict[str, Any]) -> None:
    schema["enum"] = provider_ids()


class SettingsUpdate(CamelModel):
    activeProviderId: Annotated[
        str,
        Field(description="A registered provider id.", min_length=1, max_length=63, json_schema_extra=_registered_ids),
    ]


# --- deployments ------------------------------------------------------------------------------------


class CreateDeploymentRequest(KubeFoundryDeploymentSpec):
    """The new KubeFoundryDeployment: its name and namespace, and every spec field (same names)."""

    name: DeploymentName
    namespace: Namespace

    def spec_fields(self) -> dict[str, Any]:
        """The spec as the client gave it: unset fields are left to the CRD's defaults."""
        return dict(self.model_dump(exclude={"name", "namespace"}, exclude_unset=True, exclude_none=True))


class ReplicaCounts(Response):
    desired: Annotated[int, Field(description="Worker pods wanted.", ge=0)]
    ready: Annotated[int, Field(description="Worker pods that are Ready.", ge=0)]
    available: Annotated[int, Field(description="Worker pods that are available.", ge=0)]


class DeploymentSummary(Response):
    name: str
    namespace: str
    modelId: str
    engine: str
    mode: str
    provider: Annotated[
        str | None, Field(description="status.provider, else spec.provider; null until the operator picks one.")
    ]
    phase: Annotated[Phase, Field(description="Pending until the operator reports; Terminating once deleted.")]
    replicas: ReplicaCounts
    createdAt: Annotated[str, Field(description="metadata.creationTimestamp (RFC 3339).")]
    message: Annotated[str | None, Field(description="Why the deployment is not Ready, when it is not.")]
    endpoint: Annotated[Endpoint | None, Field(description="The OpenAI-compatible endpoint, once it exists.")]
    conditions: Annotated[list[Condition], Field(description="The operator's conditions.")]


class PodSummary(Response):
    name: str
    phase: Annotated[str, Field(description="Pending, Running, Succeeded, Failed or Unknown.")]
    ready: bool
    restarts: Annotated[int, Field(ge=0)]
    node: Annotated[str | None, Field(description="The node the pod is scheduled on.")]
    reason: Annotated[
        str | None,
        Field(
            description=(
                "Why the pod is not running: the scheduler's message while it is Pending and "
                "unscheduled, else a waiting container's reason and message."
            )
        ),
    ]


class DeploymentDetails(DeploymentSummary):
    pods: Annotated[list[PodSummary], Field(description="Pods matched by the provider's pod selector.")]


class DeploymentList(Response):
    deployments: list[DeploymentSummary]


class CreateDeploymentResponse(Response):
    success: Literal[True]
    deployment: DeploymentSummary


class DeleteDeploymentResponse(Response):
    success: Literal[True]
    message: str


class PreviewResource(Response):
    apiVersion: str
    kind: str
    name: str
    namespace: str
    manifest: Annotated[dict[str, Any], Field(description="The object the operator would apply.")]


class PreviewResponse(Response):
    provider: Annotated[str, Field(description="The provider that would serve the deployment.")]
    deployment: Annotated[dict[str, Any], Field(description="The KubeFoundryDeployment that would be created.")]
    resources: Annotated[
        list[PreviewResource],
        Field(description="The provider resources, each accepted by a server-side dry run."),
    ]


# --- GPUs ---------------------------------------------------------------------------------------------


class GpuNode(Response):
    name: str
    product: Annotated[str | None, Field(description="GPU model (label nvidia.com/gpu.product).")]
    memoryMiB: Annotated[int | None, Field(description="Memory per GPU in MiB (label nvidia.com/gpu.memory).")]
    capacity: Annotated[int, Field(ge=0)]
    allocatable: Annotated[int, Field(ge=0)]
    allocated: Annotated[int, Field(description="GPUs requested by non-terminated pods on the node.", ge=0)]
    free: Annotated[int, Field(description="allocatable - allocated (never negative).", ge=0)]
    ready: bool
    schedulable: Annotated[bool, Field(description="False when the node is cordoned.")]


class GpuTotals(Response):
    nodes: Annotated[int, Field(ge=0)]
    capacity: Annotated[int, Field(ge=0)]
    allocatable: Annotated[int, Field(ge=0)]
    allocated: Annotated[int, Field(ge=0)]
    free: Annotated[int, Field(ge=0)]
    maxFreePerNode: Annotated[
        int, Field(description="Most free GPUs on one ready, schedulable node: the largest replica that fits.", ge=0)
    ]


class GpusResponse(Response):
    resource: Annotated[str, Field(description="The extended resource counted.")]
    nodes: list[GpuNode]
    totals: GpuTotals

"""The one small interface every inference provider implements.

The operator core and the API routes only talk to providers through this interface and the
registry in `kubefoundry.operator.providers`; adding a provider is adding a module here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from ..models.deployment import KubeFoundryDeploymentSpec
from ..runtime.kube import JSON, Resource


@dataclass(frozen=True)
class HelmChart:
    """One Helm release of a provider's installation."""

    release: str
    chart: str  # chart name inside the repository
    repository: str  # https repository URL or oci:// reference (without the chart name)
    namespace: str
    version: str
    values: dict[str, Any] = field(default_factory=dict)
    create_namespace: bool = True
    # Before which provider version this chart is needed (e.g. dynamo-crds only before 1.0).
    only_before: str | None = None


@dataclass(frozen=True)
class InstallSpec:
    """Everything needed to install a provider, from one source (commands shown == commands run)."""

    default_version: str
    namespace: str
    charts: tuple[HelmChart, ...]
    crd_names: tuple[str, ...]  # the provider is "installed" only when all of these CRDs exist
    operator_labels: dict[str, str]  # labels of the provider's operator Deployment (any namespace)


@dataclass(frozen=True)
class ChildStatus:
    """What the provider resource reports, in KubeFoundry's terms."""

    ready: bool
    state: str  # the provider's own word for its state (Dynamo: successful/pending/failed/initializing)
    message: str
    failed: bool = False
    desired: int | None = None
    current: int | None = None
    ready_replicas: int | None = None
    available_replicas: int | None = None
    observed: bool = True  # False while the provider has not looked at the latest generation


@dataclass(frozen=True)
class EndpointInfo:
    service: str
    port: int


class Provider(ABC):
    id: str
    name: str
    description: str
    resource: Resource  # the kind the provider's operator reconciles (for Dynamo: DynamoGraphDeployment)
    # The pod label whose value is the deployment's name: how pod changes find their deployment.
    instance_label: str

    @abstractmethod
    def render(self, name: str, namespace: str, spec: KubeFoundryDeploymentSpec) -> JSON:
        """The desired provider resource (without owner references; the core adds them)."""

    @abstractmethod
    def recreate_reason(self, current: JSON, desired: JSON) -> str | None:
        """Why `current` cannot be updated in place into `desired` (None when it can)."""

    @abstractmethod
    def read_status(self, child: JSON) -> ChildStatus:
        """Interprets the provider resource's status."""

    @abstractmethod
    def pod_selector(self, name: str) -> str:
        """Label selector of every pod serving the deployment `name`."""

    @abstractmethod
    def worker_selector(self, name: str) -> str:
        """Label selector of the worker pods (those counted as replicas)."""

    @abstractmethod
    def endpoint(self, name: str) -> EndpointInfo:
        """The Service and port of the OpenAI-compatible frontend."""

    @abstractmethod
    def install_spec(self) -> InstallSpec:
        """Charts, repositories, versions and detection facts of the provider's installation."""

    def supported_engines(self) -> tuple[str, ...]:
        return ("vllm", "sglang", "trtllm")

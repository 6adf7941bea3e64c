"""ProviderInstall: an inference provider installed into the cluster with Helm.

A cluster-scoped resource named after the provider (`dynamo`). These pydantic models are the single
source of truth for its shape: the CRD is generated from them by `kubefoundry.operator.crdgen` (using
`CRD` below for everything that is not a field), the operator parses `spec` with them, and the REST API
validates request bodies with them.

What the operator does with it lives in `kubefoundry.operator.installs.handlers`; how Helm is run
in `kubefoundry.operator.runtime.helm`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import ConfigDict, Field, model_validator

from ..runtime.kube import Resource
from .common import GROUP, VERSION, CamelModel, Condition

KIND = "ProviderInstall"
PLURAL = "providerinstalls"
SINGULAR = "providerinstall"
SHORT_NAMES = ["pi"]
RESOURCE = Resource(GROUP, VERSION, PLURAL, KIND, namespaced=False)

# Condition reasons (one CamelCase word each): part of the status contract, read by the API too.
R_INSTALLING = "Installing"
R_UPGRADING = "Upgrading"
R_UNINSTALLING = "Uninstalling"
R_WAITING_FOR_OPERATOR = "WaitingForOperator"
R_APPLIED = "Applied"
R_MANAGED_ELSEWHERE = "ManagedElsewhere"
R_IN_PROGRESS = "HelmOperationInProgress"
R_STUCK = "ReleaseStuck"
R_HELM_FAILED = "HelmFailed"
R_UNINSTALL_FAILED = "UninstallFailed"
R_HELM_UNAVAILABLE = "HelmUnavailable"
R_INVALID_SPEC = "InvalidSpec"
R_UNKNOWN_PROVIDER = "UnknownProvider"
R_CHART_SOURCE = "ChartSourceNotAllowed"
R_SUCCEEDED = "Succeeded"
R_DETECTED = "Detected"
R_NOT_INSTALLED = "NotInstalled"
R_INSTALLED = "Installed"
R_INSTALLED_EXTERNALLY = "InstalledExternally"
R_VERSION_MISMATCH = "VersionMismatch"
R_PENDING = "Pending"


PROVIDER_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
# An exact chart version (SemVer 2, optional leading v): a range would make "which version is installed"
# and "is dynamo-crds needed (< 1.0)" unanswerable.
VERSION_PATTERN = (
    r"^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
)
NAMESPACE_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# No whitespace, no quotes: these go into an argv item, and into the commands shown to users.
HTTPS_URL_PATTERN = r"^https://[^\s'\"\\]+$"
OCI_REF_PATTERN = r"^oci://[^\s'\"\\]+$"
LOCAL_PATH_PATTERN = r"^/[^\s'\"\\]*$"

MAX_STEPS = 20
MAX_STEP_MESSAGE = 4096


class ConditionType(StrEnum):
    """The conditions a ProviderInstall reports (Kubernetes API conventions, as KubeFoundryDeployment)."""

    READY = "Ready"  # installed as the spec asks, and the cluster shows it
    INSTALLED = "Installed"  # the cluster shows the provider: its CRDs exist and its operator is Available
    PROGRESSING = "Progressing"  # helm is running, or waiting for another helm operation to end
    FAILED = "Failed"  # the last helm attempt failed (message: helm's own message); the operator retries


class StepAction(StrEnum):
    INSTALL = "install"
    UPGRADE = "upgrade"
    UNINSTALL = "uninstall"
    DELETE_CRDS = "delete-crds"
    CHECK = "check"  # looked at the release before acting (pending/failed releases are reported here)


class StepOutcome(StrEnum):
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SKIPPED = "Skipped"
    WAITING = "Waiting"


NAMESPACE_IMMUTABLE = "spec.namespace is immutable: delete the ProviderInstall (uninstalling) and create it again"
NAMESPACE_VALIDATIONS: Final[list[dict[str, str]]] = [
    {"rule": "self == oldSelf", "message": NAMESPACE_IMMUTABLE, "reason": "FieldValueForbidden"},
]

# The API server enforces this on the chartSource object (pydantic's `_exactly_one` below is the same rule).
CHART_SOURCE_VALIDATIONS: Final[list[dict[str, str]]] = [
    {
        "rule": "(has(self.repository) ? 1 : 0) + (has(self.oci) ? 1 : 0) + (has(self.localPath) ? 1 : 0) == 1",
        "message": "chartSource takes exactly one of repository, oci or localPath",
        "reason": "FieldValueInvalid",
    },
]


class ChartSource(CamelModel):
    """Where the charts come from instead of the provider's official repository. Exactly one field."""

    model_config = ConfigDict(
        **CamelModel.model_config,
        json_schema_extra={"x-kubernetes-validations": CHART_SOURCE_VALIDATIONS},  # type: ignore[dict-item]
    )

    repository: Annotated[
        str | None,
        Field(
            description=(
                "An https Helm repository URL holding the provider's charts (helm --repo). Plain http is refused."
            ),
            max_length=2048,
            pattern=HTTPS_URL_PATTERN,
        ),
    ] = None
    oci: Annotated[
        str | None,
        Field(
            description=(
                "An OCI registry path holding the provider's charts, without the chart name "
                "(oci://registry/path; the chart is oci://registry/path/<chart>)."
            ),
            max_length=2048,
            pattern=OCI_REF_PATTERN,
        ),
    ] = None
    localPath: Annotated[
        str | None,
        Field(
            description=(
                "An absolute directory on the operator's file system holding the provider's charts, as "
                "<chart>-<version>.tgz archives or unpacked <chart>/ directories. Allowed only under one of "
                "the directories listed in the operator's KUBEFOUNDRY_LOCAL_CHART_ROOTS."
            ),
            max_length=4096,
            pattern=LOCAL_PATH_PATTERN,
        ),
    ] = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ChartSource:
        given = [f for f in ("repository", "oci", "localPath") if getattr(self, f) is not None]
        if len(given) != 1:
            raise ValueError("chartSource takes exactly one of repository, oci or localPath")
        return self

    def kind(self) -> str:
        if self.repository is not None:
            return "repository"
        if self.oci is not None:
            return "oci"
        return "localPath"


class ProviderInstallSpec(CamelModel):
    """Which provider to install, at which version, from where, into which namespace, with which values."""

    provider: Annotated[
        str,
        Field(
            description="Provider id (dynamo, ...). Must equal metadata.name: one ProviderInstall per provider.",
            min_length=1,
            max_length=63,
            pattern=PROVIDER_PATTERN,
        ),
    ]
    version: Annotated[
        str | None,
        Field(
            description=(
                "Exact chart version to install (for example 1.0.1). Empty: the version KubeFoundry is "
                "tested with. Changing it upgrades."
            ),
            max_length=64,
            pattern=VERSION_PATTERN,
        ),
    ] = None
    chartSource: Annotated[
        ChartSource | None,
        Field(description="Where the charts come from; empty: the provider's official repository."),
    ] = None
    namespace: Annotated[
        str | None,
        Field(
            description=(
                "Namespace of the provider's operator; empty: the provider's default (Dynamo: dynamo-system). "
                "Immutable. Charts that the provider installs elsewhere (Dynamo's dynamo-crds, before 1.0, "
                "into default) keep their own namespace."
            ),
            min_length=1,
            max_length=63,
            pattern=NAMESPACE_PATTERN,
            json_schema_extra={"x-kubernetes-validations": NAMESPACE_VALIDATIONS},
        ),
    ] = None
    values: Annotated[
        dict[str, Any],
        Field(
            description=(
                "Helm values for the charts installed into the target namespace (Dynamo: dynamo-platform), "
                "merged over KubeFoundry's defaults for them. Passed to helm as a values file."
            ),
        ),
    ] = Field(default_factory=dict)
    removeCrdsOnDelete: Annotated[
        bool,
        Field(
            description=(
                "Also delete the provider's CRDs when this resource is deleted. Deleting a CRD deletes every "
                "object of that kind in the cluster, so the default keeps them."
            ),
        ),
    ] = False


# Rules the API server enforces at `kubectl apply` time (pydantic enforces the same ones above, except
# the transition rule, which needs the old object).
SPEC_VALIDATIONS: Final[list[dict[str, str]]] = [
    {
        # With the field's own `self == oldSelf` rule (NAMESPACE_VALIDATIONS): the namespace can be neither
        # changed nor set or unset. (`self.namespace == oldSelf.namespace` here exceeds the CEL cost budget.)
        "rule": "has(self.namespace) == has(oldSelf.namespace)",
        "message": NAMESPACE_IMMUTABLE,
        "fieldPath": ".namespace",
        "reason": "FieldValueForbidden",
    },
]
ROOT_VALIDATIONS: Final[list[dict[str, str]]] = [
    {
        "rule": "self.metadata.name == self.spec.provider",
        "message": "metadata.name of a ProviderInstall must equal spec.provider (one ProviderInstall per provider)",
        "reason": "FieldValueInvalid",
    },
]


class Step(CamelModel):
    """One thing the operator did (or found), with helm's own message."""

    chart: Annotated[str, Field(description="Chart name.", max_length=253)]
    release: Annotated[str, Field(description="Helm release name.", max_length=253)]
    namespace: Annotated[str, Field(description="Namespace of the release.", max_length=63)] = ""
    version: Annotated[str, Field(description="Chart version the step was for.", max_length=64)] = ""
    action: Annotated[StepAction, Field(description="install, upgrade, uninstall, delete-crds or check.")]
    outcome: Annotated[StepOutcome, Field(description="Succeeded, Failed, Skipped or Waiting.")]
    message: Annotated[
        str,
        Field(description="Helm's own message (trimmed), or why the step was skipped.", max_length=MAX_STEP_MESSAGE),
    ] = ""
    time: Annotated[
        str, Field(description="When the step ended (RFC 3339).", json_schema_extra={"format": "date-time"})
    ]


class ProviderInstallStatus(CamelModel):
    """Observed state. Written only by the operator; `installed` and its parts are what the cluster shows."""

    observedGeneration: Annotated[int | None, Field(description="The generation the status reflects.")] = None
    installed: Annotated[
        bool,
        Field(description="The provider's CRDs exist and its operator Deployment is Available (any namespace)."),
    ] = False
    crdInstalled: Annotated[bool, Field(description="Every CRD the provider needs exists.")] = False
    operatorInstalled: Annotated[
        bool, Field(description="The provider's operator Deployment is Available (in any namespace).")
    ] = False
    version: Annotated[
        str | None, Field(description="Version of the provider's operator found in the cluster.", max_length=128)
    ] = None
    namespace: Annotated[str | None, Field(description="Namespace the charts are installed into.", max_length=63)] = (
        None
    )
    conditions: Annotated[
        list[Condition],
        Field(
            description="Ready, Installed, Progressing, Failed.",
            json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
        ),
    ] = Field(default_factory=list)
    steps: Annotated[
        list[Step],
        Field(description=f"The last {MAX_STEPS} helm steps, oldest first.", max_length=MAX_STEPS),
    ] = Field(default_factory=list)


class ProviderInstall(CamelModel):
    """The whole object as stored (metadata stays a plain mapping)."""

    apiVersion: str
    kind: str
    metadata: dict[str, Any]
    spec: ProviderInstallSpec
    status: ProviderInstallStatus | None = None


# Everything crdgen needs besides the two models, named like `crdgen.CrdSpec`'s fields:
#     CrdSpec(spec_model=ProviderInstallSpec, status_model=ProviderInstallStatus,
#             **{k: v for k, v in CRD.items() if k != "printer_columns"},
#             printer_columns=tuple(PrinterColumn(**c) for c in CRD["printer_columns"]))
CRD: Final[dict[str, Any]] = {
    "kind": KIND,
    "plural": PLURAL,
    "singular": SINGULAR,
    "short_names": tuple(SHORT_NAMES),
    "scope": "Cluster",
    "description": (
        "An inference provider installed into the cluster with Helm by the KubeFoundry operator. "
        "Named after the provider; deleting it uninstalls the provider (its CRDs are kept unless "
        "spec.removeCrdsOnDelete)."
    ),
    "printer_columns": (
        {"name": "Provider", "json_path": ".spec.provider", "description": "Provider id."},
        {"name": "Version", "json_path": ".status.version", "description": "Version found in the cluster."},
        {
            "name": "Installed",
            "json_path": ".status.installed",
            "type": "boolean",
            "description": "CRDs exist and the operator Deployment is Available.",
        },
        {"name": "Age", "json_path": ".metadata.creationTimestamp", "type": "date"},
    ),
    "validations": tuple(SPEC_VALIDATIONS),
    "root_validations": tuple(ROOT_VALIDATIONS),
}


def default_status() -> dict[str, Any]:
    return ProviderInstallStatus().model_dump(mode="json", exclude_none=True)

"""Dynamo's names: the DGD resource, label and annotation keys, component naming, a component's pod labels.

Sources: the team's Dynamo notes §1.3, §2.2 and §5, upstream internal/consts/consts.go.
"""

from __future__ import annotations

from kubefoundry.operator.runtime import kube as k
from kubefoundry.operator.runtime.kube import JSON

FIELD_MANAGER = "dynamo-standin"
DGDS = k.Resource("nvidia.com", "v1alpha1", "dynamographdeployments", "DynamoGraphDeployment")

# Labels (notes §2.2, upstream internal/consts/consts.go).
LABEL_DGD_NAME = "nvidia.com/dynamo-graph-deployment-name"
LABEL_COMPONENT = "nvidia.com/dynamo-component"
LABEL_COMPONENT_TYPE = "nvidia.com/dynamo-component-type"
LABEL_SUB_COMPONENT_TYPE = "nvidia.com/dynamo-sub-component-type"
LABEL_DYNAMO_NAMESPACE = "nvidia.com/dynamo-namespace"
LABEL_SELECTOR = "nvidia.com/selector"
LABEL_METRICS_ENABLED = "nvidia.com/metrics-enabled"
LABEL_DISCOVERY_BACKEND = "nvidia.com/dynamo-discovery-backend"
LABEL_DISCOVERY_ENABLED = "nvidia.com/dynamo-discovery-enabled"
ANNOTATION_ENABLE_METRICS = "nvidia.com/enable-metrics"
ANNOTATION_DISCOVERY_BACKEND = "nvidia.com/dynamo-discovery-backend"


def component_name(dgd_name: str, service_key: str) -> str:
    """`<dgd>-<lower(serviceKey)>`: Dynamo's DCD name. Dynamo appends `-<8-hex worker hash>` to worker
    DCDs (and so to their Deployments); the stand-in does not (see the package docstring)."""
    return f"{dgd_name}-{service_key.lower()}"


def service_name(dgd_name: str, service_key: str) -> str:
    """The Kubernetes Service of a component: like the DCD name, with dots replaced (notes §5)."""
    return component_name(dgd_name, service_key).replace(".", "-")


def dynamo_namespace(dgd: JSON, service: JSON) -> str:
    """`<k8s-namespace>-<dgd>` with dots → '-', or `dynamo` with globalDynamoNamespace (notes §1.3)."""
    if service.get("globalDynamoNamespace"):
        return "dynamo"
    meta = dgd["metadata"]
    return f"{meta['namespace']}-{meta['name']}".replace(".", "-")


def component_labels(dgd: JSON, key: str, service: JSON) -> dict[str, str]:
    """The labels Dynamo puts on a component's pods (notes §2.2)."""
    meta = dgd["metadata"]
    annotations = meta.get("annotations") or {}
    labels = {
        LABEL_DGD_NAME: meta["name"],
        LABEL_COMPONENT: key,
        LABEL_DYNAMO_NAMESPACE: dynamo_namespace(dgd, service),
        LABEL_SELECTOR: component_name(meta["name"], key),
        LABEL_DISCOVERY_BACKEND: annotations.get(ANNOTATION_DISCOVERY_BACKEND) or "kubernetes",
        LABEL_DISCOVERY_ENABLED: "true",
    }
    if service.get("componentType"):
        labels[LABEL_COMPONENT_TYPE] = str(service["componentType"])
    if service.get("subComponentType"):
        labels[LABEL_SUB_COMPONENT_TYPE] = str(service["subComponentType"])
    if annotations.get(ANNOTATION_ENABLE_METRICS) != "false":
        labels[LABEL_METRICS_ENABLED] = "true"
    return labels

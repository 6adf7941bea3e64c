"""A deployment's provider resource as the operator applies it and the API previews it: rendered by the
provider, named after the deployment and labelled as ours."""

from __future__ import annotations

from ..models.deployment import KubeFoundryDeploymentSpec
from ..runtime import kube as k
from .base import Provider

FIELD_MANAGER = "kubefoundry"
DEPLOYMENT_LABEL = "kubefoundry.io/deployment"
MANAGED_BY = {"app.kubernetes.io/managed-by": "kubefoundry"}


def desired_child(provider: Provider, name: str, namespace: str, spec: KubeFoundryDeploymentSpec) -> k.JSON:
    """The provider resource for a deployment, labelled as ours (the reconciler adds the owner)."""
    desired = provider.render(name, namespace, spec)
    meta = desired.setdefault("metadata", {})
    meta["name"], meta["namespace"] = name, namespace
    meta.setdefault("labels", {}).update({**MANAGED_BY, DEPLOYMENT_LABEL: name})
    return desired

"""The Kubernetes permissions each operation needs of its caller (with `--auth kubernetes`; see auth.py).

They are what `kubectl` would need for the same effect, so a namespace's RBAC governs the API too.
Each function takes the operation's validated inputs (path=, query=, body=).
"""

from __future__ import annotations

from typing import Any

from kubefoundry.operator.models.common import GROUP
from kubefoundry.operator.runtime.settings import SETTINGS_NAME, operator_namespace

from .auth import Permission

DEPLOYMENTS = "kubefoundrydeployments"
PROVIDER_INSTALLS = "providerinstalls"
Inputs = dict[str, Any]


def list_deployments(i: Inputs) -> list[Permission]:
    return [Permission("list", GROUP, DEPLOYMENTS, i["query"].namespace)]


def get_deployment(i: Inputs) -> list[Permission]:
    namespace = i["query"].namespace
    return [Permission("get", GROUP, DEPLOYMENTS, namespace, i["path"].name), Permission("list", "", "pods", namespace)]


def create_deployment(i: Inputs) -> list[Permission]:
    """Also for the preview: its server-side dry runs need the same right."""
    return [Permission("create", GROUP, DEPLOYMENTS, i["body"].namespace)]


def delete_deployment(i: Inputs) -> list[Permission]:
    return [Permission("delete", GROUP, DEPLOYMENTS, i["query"].namespace, i["path"].name)]


def read_gpus(_: Inputs) -> list[Permission]:
    return [Permission("list", "", "nodes")]


def read_helm_status(_: Inputs) -> list[Permission]:
    """Whether helm can run here is part of the installation state: whoever may list the installations."""
    return [Permission("list", GROUP, PROVIDER_INSTALLS)]


def read_installation(i: Inputs) -> list[Permission]:
    return [Permission("get", GROUP, PROVIDER_INSTALLS, None, i["path"].id)]


def install_provider(i: Inputs) -> list[Permission]:
    # Installing again over an existing ProviderInstall updates it.
    return [
        Permission("create", GROUP, PROVIDER_INSTALLS),
        Permission("update", GROUP, PROVIDER_INSTALLS, None, i["path"].id),
    ]


def upgrade_provider(i: Inputs) -> list[Permission]:
    return [Permission("update", GROUP, PROVIDER_INSTALLS, None, i["path"].id)]


def uninstall_provider(i: Inputs) -> list[Permission]:
    return [Permission("delete", GROUP, PROVIDER_INSTALLS, None, i["path"].id)]


def change_settings(_: Inputs) -> list[Permission]:
    return [Permission("patch", "", "configmaps", operator_namespace(), SETTINGS_NAME)]


def read_deployment_events(i: Inputs) -> list[Permission]:
    namespace = i["query"].namespace
    return [*get_deployment(i), Permission("list", "", "events", namespace)]


def read_deployment_manifest(i: Inputs) -> list[Permission]:
    return [Permission("get", GROUP, DEPLOYMENTS, i["query"].namespace, i["path"].name)]


def scale_deployment(i: Inputs) -> list[Permission]:
    # What `kubectl patch kfd` needs (the API patches spec.replicas, as `kubectl scale` does through /scale).
    return [Permission("patch", GROUP, DEPLOYMENTS, i["query"].namespace, i["path"].name)]

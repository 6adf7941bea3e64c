"""Cluster-wide KubeFoundry settings, kept in a ConfigMap so they survive restarts and suit GitOps.

The ConfigMap `kubefoundry-settings` in the operator's namespace holds `activeProviderId`: the
provider a KubeFoundryDeployment gets when it names none.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..providers import DEFAULT_PROVIDER_ID, UnknownProvider, get_provider
from . import kube as k

SETTINGS_NAME = "kubefoundry-settings"
ACTIVE_PROVIDER_KEY = "activeProviderId"
FIELD_MANAGER = "kubefoundry-settings"


def operator_namespace() -> str:
    return os.environ.get("KUBEFOUNDRY_NAMESPACE", "kubefoundry-system")


def default_deployment_namespace() -> str:
    return os.environ.get("KUBEFOUNDRY_DEFAULT_NAMESPACE", "default")


@dataclass(frozen=True)
class Settings:
    active_provider_id: str


async def read_settings(kube: k.Kube) -> Settings:
    cm = await kube.get_or_none(k.CONFIGMAPS, SETTINGS_NAME, operator_namespace())
    provider_id = ((cm or {}).get("data") or {}).get(ACTIVE_PROVIDER_KEY) or DEFAULT_PROVIDER_ID
    try:
        get_provider(provider_id)
    except UnknownProvider:
        # A hand-edited ConfigMap must not break every new deployment: fall back to the default.
        provider_id = DEFAULT_PROVIDER_ID
    return Settings(active_provider_id=provider_id)


async def write_active_provider(kube: k.Kube, provider_id: str) -> Settings:
    get_provider(provider_id)  # raises UnknownProvider
    ns = operator_namespace()
    await ensure_namespace(kube, ns)
    await kube.apply(
        k.CONFIGMAPS,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": SETTINGS_NAME,
                "namespace": ns,
                "labels": {"app.kubernetes.io/managed-by": "kubefoundry", "app.kubernetes.io/name": "kubefoundry"},
            },
            "data": {ACTIVE_PROVIDER_KEY: provider_id},
        },
        field_manager=FIELD_MANAGER,
    )
    return Settings(active_provider_id=provider_id)


async def ensure_namespace(kube: k.Kube, name: str) -> None:
    if await kube.get_or_none(k.NAMESPACES, name) is None:
        try:
            await kube.create(k.NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        except k.Conflict:
            pass

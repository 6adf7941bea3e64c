"""Is a provider installed? One answer for the API, the operator and ProviderInstall.

A provider counts as installed when every CRD of ``install_spec().crd_names`` is served by the API
server and an operator Deployment carrying ``install_spec().operator_labels`` is Available, in any
namespace (an operator installed by someone else, e.g. a cloud add-on, counts too).

CRDs are checked through API discovery rather than by reading the CRD objects: discovery lists a
resource only once its CRD is Established, and some provider CRDs are close to 1 MB each.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..runtime import kube as k
from .base import Provider

VERSION_LABEL = "app.kubernetes.io/version"


@dataclass(frozen=True)
class InstallationState:
    installed: bool  # crd_installed and operator_installed
    crd_installed: bool
    operator_installed: bool  # an operator Deployment is Available
    version: str | None  # the operator's version, when it can be told
    missing_crds: tuple[str, ...] = ()
    operator_namespace: str | None = None


async def served_resources(kube: k.Kube, group: str) -> set[str]:
    """Plural names served in any version of an API group (empty when the group is not served)."""
    try:
        api_group = await kube.request("GET", f"/apis/{group}")
    except k.NotFound:
        return set()
    plurals: set[str] = set()
    for version in api_group.get("versions") or []:
        try:
            listing = await kube.request("GET", f"/apis/{version['groupVersion']}")
        except k.NotFound:
            continue
        plurals.update(str(r.get("name")) for r in listing.get("resources") or [] if "/" not in str(r.get("name")))
    return plurals


async def missing_crds(kube: k.Kube, crd_names: tuple[str, ...]) -> tuple[str, ...]:
    served: dict[str, set[str]] = {}
    missing = []
    for crd in crd_names:
        plural, _, group = crd.partition(".")
        if group not in served:
            served[group] = await served_resources(kube, group)
        if plural not in served[group]:
            missing.append(crd)
    return tuple(missing)


def image_tag(image: str) -> str | None:
    """The tag of an image reference (``reg:5000/repo:1.2`` -> ``1.2``; digests only -> None)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        return None
    return last.rsplit(":", 1)[1] or None


def _available(deployment: k.JSON) -> bool:
    conditions = (deployment.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Available" and c.get("status") == "True" for c in conditions)


def operator_version(deployment: k.JSON) -> str | None:
    labels = (deployment.get("metadata") or {}).get("labels") or {}
    if labels.get(VERSION_LABEL):
        return str(labels[VERSION_LABEL])
    containers = ((((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers")) or []
    for container in containers:
        tag = image_tag(str(container.get("image") or ""))
        if tag:
            return tag
    return None


async def detect_installation(kube: k.Kube, provider: Provider) -> InstallationState:
    spec = provider.install_spec()
    missing = await missing_crds(kube, spec.crd_names)
    selector = ",".join(f"{key}={value}" for key, value in sorted(spec.operator_labels.items()))
    deployments = (await kube.list(k.DEPLOYMENTS, label_selector=selector)).get("items") or []
    # Prefer an Available operator; among several, the first by namespace/name for a stable answer.
    deployments.sort(
        key=lambda d: (not _available(d), d["metadata"].get("namespace", ""), d["metadata"].get("name", ""))
    )
    chosen = deployments[0] if deployments else None
    operator_ok = chosen is not None and _available(chosen)
    return InstallationState(
        installed=not missing and operator_ok,
        crd_installed=not missing,
        operator_installed=operator_ok,
        version=operator_version(chosen) if chosen is not None else None,
        missing_crds=missing,
        operator_namespace=(chosen["metadata"].get("namespace") if chosen is not None else None),
    )

"""Reconciles one KubeFoundryDeployment: level-based and idempotent.

Every call reads the current object, computes the provider resource from the spec, applies it
with server-side apply (which also puts back hand edits of the fields we own), and writes status
only when it changed. Any signal (the object, its child, its pods, a resync) just calls it again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ..models.common import set_condition
from ..models.deployment import KFD, KubeFoundryDeploymentSpec
from ..providers import UnknownProvider, get_provider
from ..providers.base import Provider
from ..providers.rendering import DEPLOYMENT_LABEL, FIELD_MANAGER, MANAGED_BY, desired_child
from ..runtime import instance
from ..runtime import kube as k
from ..runtime.events import post_event
from ..runtime.settings import read_settings
from .status import Observation, PodInfo, compute_status, transitions

log = logging.getLogger(__name__)
SETTINGS_TTL = 5.0



class ObjectCache:
    """The latest objects seen by the watches, so a reconcile need not GET what it already saw.

    Entries may be a little stale; every decision taken from them is either re-checked by the API
    server (server-side apply, delete preconditions) or corrected by the next event.
    """

    def __init__(self) -> None:
        self.deployments: dict[tuple[str, str], k.JSON] = {}
        self.children: dict[tuple[str, str, str], k.JSON] = {}  # (plural.group, namespace, name)
        self.crds: dict[str, bool] = {}

    @staticmethod
    def child_key(res: k.Resource, namespace: str, name: str) -> tuple[str, str, str]:
        return (crd_name(res), namespace, name)


@dataclass(frozen=True)
class Outcome:
    """What the caller should do next with this key."""

    requeue_after: float | None = None


def crd_name(res: k.Resource) -> str:
    return f"{res.plural}.{res.group}"


def crd_established(crd: k.JSON | None) -> bool:
    """A CRD serves its kind only once Established; before that its REST path answers 404."""
    conds = ((crd or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conds)


def _owned_by(child: k.JSON, owner_uid: str) -> bool:
    return any(ref.get("uid") == owner_uid for ref in child.get("metadata", {}).get("ownerReferences") or [])


def _adoptable(child: k.JSON, deployment: str) -> bool:
    """Labelled as this deployment's and controlled by nobody: a child of ours that lost its owner."""
    meta = child.get("metadata") or {}
    labels = meta.get("labels") or {}
    ours = labels.get(DEPLOYMENT_LABEL) == deployment and all(labels.get(k_) == v for k_, v in MANAGED_BY.items())
    controlled = any(ref.get("controller") for ref in meta.get("ownerReferences") or [])
    return ours and not controlled


def _pod_info(pod: k.JSON) -> PodInfo:
    status = pod.get("status") or {}
    conds = {c.get("type"): c for c in status.get("conditions") or []}
    sched = conds.get("PodScheduled") or {}
    unschedulable = None
    if sched.get("status") == "False" and sched.get("reason") == "Unschedulable":
        unschedulable = str(sched.get("message") or "Unschedulable")
    return PodInfo(
        name=pod["metadata"]["name"],
        phase=str(status.get("phase") or "Unknown"),
        ready=(conds.get("Ready") or {}).get("status") == "True",
        unschedulable_message=unschedulable,
    )


class DeploymentReconciler:
    def __init__(self, kube: k.Kube, cache: ObjectCache | None = None) -> None:
        self.kube = kube
        self.cache = cache or ObjectCache()
        self._settings: tuple[float, str] | None = None

    async def _active_provider_id(self) -> str:
        # A burst of new deployments reads the setting once; a change reaches new deployments within seconds.
        now = time.monotonic()
        if self._settings is None or now - self._settings[0] > SETTINGS_TTL:
            self._settings = (now, (await read_settings(self.kube)).active_provider_id)
        return self._settings[1]

    async def _crd_exists(self, name: str) -> bool:
        known = self.cache.crds.get(name)
        if known is not None:
            return known
        return crd_established(await self.kube.get_or_none(k.CRDS, name))

    async def reconcile(self, namespace: str, name: str) -> Outcome:
        kfd = self.cache.deployments.get((namespace, name)) or await self.kube.get_or_none(KFD, name, namespace)
        if kfd is None:
            return Outcome()  # deleted: the garbage collector removes what it owned
        if not instance.handles(kfd):
            return Outcome()  # another operator instance's (a child's or pod's event can name it)
        meta = kfd["metadata"]
        previous: dict[str, Any] = kfd.get("status") or {}
        generation = int(meta.get("generation") or 0)
        try:
            spec = KubeFoundryDeploymentSpec.model_validate(kfd.get("spec") or {})
        except ValidationError as exc:
            # The CRD schema makes this rare (e.g. a CRD older than the operator); say so, don't crash.
            message = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            await self._write_status(kfd, previous, self._invalid_status(previous, generation, message))
            return Outcome()

        provider_id = spec.provider or previous.get("provider") or await self._active_provider_id()
        try:
            provider = get_provider(provider_id)
        except UnknownProvider:
            message = f"unknown provider {provider_id!r}"
            await self._write_status(kfd, previous, self._invalid_status(previous, generation, message, provider_id))
            return Outcome()

        obs = Observation(
            generation=generation,
            provider_id=provider.id,
            provider_installed=True,
            namespace=namespace,
            worker_selector=provider.worker_selector(name),
            pod_selector=provider.pod_selector(name),
            deleting=bool(meta.get("deletionTimestamp")),
        )
        outcome = Outcome()
        crd = crd_name(provider.resource)
        if not await self._crd_exists(crd):
            obs.provider_installed = False
            obs.missing_crd = crd
        elif not obs.deleting:
            outcome = await self._converge_child(kfd, spec, provider, obs)

        status = compute_status(spec, previous, obs)
        await self._write_status(kfd, previous, status)
        return outcome

    async def _converge_child(
        self, kfd: k.JSON, spec: KubeFoundryDeploymentSpec, provider: Provider, obs: Observation
    ) -> Outcome:
        meta = kfd["metadata"]
        name, namespace = meta["name"], meta["namespace"]
        res = provider.resource
        desired = desired_child(provider, name, namespace, spec)
        desired["metadata"]["ownerReferences"] = [k.owner_reference(kfd)]
        obs.child_ref = {"apiVersion": res.api_version, "kind": res.kind, "name": name}

        current = self.cache.children.get(ObjectCache.child_key(res, namespace, name))
        if current is None:
            current = await self.kube.get_or_none(res, name, namespace)
        if current is not None and current["metadata"].get("deletionTimestamp"):
            # Checked before ownership: the child of a deployment deleted and made again under the same name
            # is still finishing (its provider's finalizer); the new one waits for it, it has not failed.
            if _owned_by(current, meta["uid"]):
                obs.recreating = f"waiting for the previous {res.kind} to be deleted"
            else:
                obs.waiting = (
                    f"waiting for the {res.kind} {namespace}/{name} of an earlier deployment of this name to "
                    "finish deleting"
                )
            return Outcome(requeue_after=2)
        if current is not None and not _owned_by(current, meta["uid"]):
            if not _adoptable(current, name):
                obs.rejected = (
                    f"a {res.kind} named {name!r} already exists in {namespace!r} and is not owned by this "
                    "deployment; KubeFoundry leaves it alone. Delete it or choose another name."
                )
                return Outcome(requeue_after=60)
            # Ours by its labels, with no controller (its ownerReference removed by hand): adopted back, as
            # controller-runtime does, so that it is updated and garbage-collected with the deployment again.
            await post_event(self.kube, kfd, "Normal", "Adopted", f"adopted {res.kind} {namespace}/{name}")
        if current is not None:
            reason = provider.recreate_reason(current, desired)
            if reason:
                obs.recreating = f"{reason}; the {res.kind} is being recreated"
                try:
                    # The uid precondition makes a stale cached copy unable to delete a newer object.
                    await self.kube.delete(
                        res, name, namespace, propagation="Foreground", uid=current["metadata"]["uid"]
                    )
                except k.Conflict:
                    return Outcome(requeue_after=1)
                await post_event(self.kube, kfd, "Normal", "Recreating", obs.recreating)
                return Outcome(requeue_after=2)

        if current is None and not await self._still_exists(kfd):
            return Outcome()  # deleted while a watch was away: a child now would only be garbage-collected
        try:
            child = await self.kube.apply(res, desired, field_manager=FIELD_MANAGER)
        except k.NotFound:
            self.cache.crds.pop(crd_name(res), None)  # the CRD went while a watch was away: ask next time
            raise
        except k.KubeError as exc:
            if exc.status in (400, 403, 409, 422):
                obs.rejected = f"the API server rejected the {res.kind}: {exc.message}"
                return Outcome(requeue_after=60)
            raise
        # What the watch will say next; a reconcile before that must not take the child for unowned again.
        self.cache.children[ObjectCache.child_key(res, namespace, name)] = child
        obs.child = provider.read_status(child)
        if current is None:
            await post_event(self.kube, kfd, "Normal", "Created", f"created {res.kind} {namespace}/{name}")
            return Outcome()  # no pods or Service yet: their provider's status changes bring us back
        if not (obs.child.ready and obs.child.observed):
            pods = await self.kube.list(k.PODS, namespace, label_selector=obs.pod_selector)
            obs.pods = [_pod_info(p) for p in pods.get("items") or []]
        ep = provider.endpoint(name)
        known = (kfd.get("status") or {}).get("endpoint") or {}
        if known.get("service") == ep.service or await self.kube.get_or_none(k.SERVICES, ep.service, namespace):
            obs.endpoint = ep
        return Outcome()

    async def _still_exists(self, kfd: k.JSON) -> bool:
        """Whether `kfd` (a cached copy) is still there: checked before creating a child, which is rare."""
        meta = kfd["metadata"]
        current = await self.kube.get_or_none(KFD, meta["name"], meta["namespace"])
        if current is None or current["metadata"].get("uid") != meta.get("uid"):
            self.cache.deployments.pop((meta["namespace"], meta["name"]), None)
            return False
        return True

    def _invalid_status(
        self, previous: dict[str, Any], generation: int, message: str, provider_id: str | None = None
    ) -> dict[str, Any]:
        conds = set_condition(
            list(previous.get("conditions") or []), "Ready", "False", "InvalidSpec", message, generation
        )
        status: dict[str, Any] = {"observedGeneration": generation, "phase": "Failed", "conditions": conds}
        if provider_id:
            status["provider"] = provider_id
        return status

    async def _write_status(self, kfd: k.JSON, previous: dict[str, Any], status: dict[str, Any]) -> None:
        if status == previous:
            return
        meta = kfd["metadata"]
        # A merge patch replaces lists whole and removes keys set to None, so stale fields go away.
        patch = {key: None for key in previous if key not in status}
        patch.update(status)
        try:
            await self.kube.merge_patch(KFD, meta["name"], {"status": patch}, meta["namespace"], subresource="status")
        except k.NotFound:
            self.cache.deployments.pop((meta["namespace"], meta["name"]), None)  # a ghost the watch missed
            return
        for c in transitions(previous, status):
            if c["type"] == "Ready" and c["status"] == "True":
                await post_event(self.kube, kfd, "Normal", "Ready", c["message"])
            elif c["status"] == "False" and _worth_a_warning(c):
                await post_event(self.kube, kfd, "Warning", c["reason"], c["message"])


def _worth_a_warning(cond: dict[str, Any]) -> bool:
    # Ready mostly mirrors another condition that already got its Event; these are its own words.
    if cond["type"] == "Ready":
        return bool(cond["reason"] in ("ProviderFailed", "InvalidSpec"))
    # The Recreating Event is posted where it happens; waiting for an old child is no warning.
    return bool(cond["reason"] not in ("Recreating", "WaitingForDeletion"))


__all__ = ["DeploymentReconciler", "Outcome"]

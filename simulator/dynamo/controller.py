"""The stand-in's controller: watches DGDs and their children, reconciles each DGD into its Deployments and
Services and writes its status.

Every watch event only queues the key of the DGD concerned; the work queue deduplicates them and the
workers reconcile. No finalizer, so a DGD can always be deleted even while the stand-in is down; the
garbage collector removes the children through their owner references.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubefoundry.operator.runtime import kube as k
from kubefoundry.operator.runtime.kube import JSON
from kubefoundry.operator.runtime.workqueue import WorkQueue

from .admission import DEFAULT_ADMISSION_POLICY, apply_admission_policy, wait_admission_policy_active
from .names import DGDS, FIELD_MANAGER, LABEL_DGD_NAME
from .render import ReconcileError, build_deployment, build_service
from .status import READY, failed_status, rollout_status, status_patch
from .watch import watch_forever

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, name)


def controller_owner(obj: JSON) -> str | None:
    """The name of the DGD that controls `obj`, if any."""
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        is_dgd = (ref.get("apiVersion"), ref.get("kind")) == (DGDS.api_version, DGDS.kind)
        if ref.get("controller") and is_dgd:
            return str(ref["name"])
    return None


def owned_by(obj: JSON, dgd: JSON) -> bool:
    uid = dgd["metadata"]["uid"]
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return any(ref.get("controller") and ref.get("uid") == uid for ref in refs)


@dataclass
class Options:
    workers: int = 4
    admission_policy: Path | None = DEFAULT_ADMISSION_POLICY
    watch_timeout: int = 300


class DynamoStandIn:
    def __init__(self, kube: k.Kube, options: Options | None = None) -> None:
        self.kube = kube
        self.options = options or Options()
        self.queue: WorkQueue[Key] = WorkQueue()
        self.synced = asyncio.Event()  # set once the first DGD list has been queued

    # -- watch events --

    def _on_dgd(self, _type: str, obj: JSON) -> None:
        meta = obj.get("metadata") or {}
        if meta.get("namespace") and meta.get("name"):
            self.queue.add((meta["namespace"], meta["name"]))

    def _on_child(self, _type: str, obj: JSON) -> None:
        owner = controller_owner(obj)
        ns = (obj.get("metadata") or {}).get("namespace")
        if owner and ns:
            self.queue.add((ns, owner))

    # -- reconcile --

    async def _handle(self, key: Key) -> None:
        try:
            await self.reconcile(*key)
        except Exception as exc:  # one bad DGD must not stop the others; retry it with backoff
            delay = self.queue.backoff(key, base=0.5, cap=60.0)
            log.warning("reconcile %s/%s failed (%s); retrying in %.1fs", key[0], key[1], exc, delay)
            return
        self.queue.forget(key)

    async def reconcile(self, namespace: str, name: str) -> None:
        dgd = await self.kube.get_or_none(DGDS, name, namespace)
        if dgd is None or dgd["metadata"].get("deletionTimestamp"):
            return  # the garbage collector removes the children through their owner references
        try:
            deployments = await self._sync_children(dgd)
        except (ReconcileError, k.KubeError) as exc:
            if isinstance(exc, k.KubeError) and exc.status == 403 and "being terminated" in exc.message:
                log.debug("%s/%s: namespace is being deleted; leaving the DGD alone", namespace, name)
                return
            message = exc.message if isinstance(exc, k.KubeError) else str(exc)
            await self._write_status(dgd, failed_status(dgd, message))
            if isinstance(exc, ReconcileError):
                log.info("%s/%s: failed: %s", namespace, name, message)
                return  # nothing to retry until the spec changes
            raise
        await self._write_status(dgd, rollout_status(dgd, deployments))

    async def _sync_children(self, dgd: JSON) -> dict[str, JSON]:
        meta = dgd["metadata"]
        namespace = meta["namespace"]
        services: dict[str, Any] = (dgd.get("spec") or {}).get("services") or {}
        wanted = {key: build_deployment(dgd, key, svc or {}) for key, svc in services.items()}
        wanted_services = {key: build_service(dgd, key, svc or {}) for key, svc in services.items()}
        deployments: dict[str, JSON] = {}
        for key, body in sorted(wanted.items()):
            deployments[key] = await self.kube.apply(k.DEPLOYMENTS, body, field_manager=FIELD_MANAGER)
        for _key, svc_body in sorted(wanted_services.items()):
            if svc_body is not None:
                await self.kube.apply(k.SERVICES, svc_body, field_manager=FIELD_MANAGER)

        # Delete what this DGD owns but no longer wants (services removed from the spec).
        selector = f"{LABEL_DGD_NAME}={meta['name']}"
        keep = {
            k.DEPLOYMENTS.plural: {b["metadata"]["name"] for b in wanted.values()},
            k.SERVICES.plural: {b["metadata"]["name"] for b in wanted_services.values() if b is not None},
        }
        for res in (k.DEPLOYMENTS, k.SERVICES):
            listing = await self.kube.list(res, namespace, label_selector=selector)
            for obj in listing.get("items") or []:
                obj_name = obj["metadata"]["name"]
                if owned_by(obj, dgd) and obj_name not in keep[res.plural]:
                    log.info(
                        "%s/%s: deleting %s %s (its service left the spec)", namespace, meta["name"], res.kind, obj_name
                    )
                    await self.kube.delete(res, obj_name, namespace)
        return deployments

    async def _write_status(self, dgd: JSON, desired: JSON) -> None:
        patch = status_patch(dgd.get("status") or {}, desired)
        if patch is None:
            return
        meta = dgd["metadata"]
        await self.kube.merge_patch(
            DGDS,
            meta["name"],
            {"status": patch},
            meta["namespace"],
            subresource="status",
            field_manager=FIELD_MANAGER,
        )
        ready = next(c for c in desired["conditions"] if c["type"] == READY)
        log.info(
            "%s/%s: state=%s Ready=%s (%s)",
            meta["namespace"],
            meta["name"],
            desired["state"],
            ready["status"],
            ready["message"],
        )

    # -- main loop --

    async def _install_admission_policy(self) -> None:
        path = self.options.admission_policy
        if path is None:
            log.warning("not applying the admission policy (disabled): DGD update rules are NOT enforced")
            return
        delay = 0.5
        while True:  # the API server may not be up yet
            try:
                await apply_admission_policy(self.kube, path)
                break
            except k.ClusterUnavailable as exc:
                log.warning("%s; retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        if await wait_admission_policy_active(self.kube):
            log.info("admission policy active: Dynamo's DGD update rules are enforced by the API server")

    async def run(self) -> None:
        log.info(
            "Dynamo STAND-IN controller (not NVIDIA Dynamo): reconciles %s.%s/%s into Deployments and "
            "Services with Dynamo's names, labels and status; API server %s",
            DGDS.plural,
            DGDS.group,
            DGDS.version,
            self.kube.host,
        )
        await self._install_admission_policy()

        tasks: list[asyncio.Task[None]] = []

        def spawn(coro: Awaitable[None], name: str) -> None:
            async def wrapped() -> None:
                await coro

            tasks.append(asyncio.create_task(wrapped(), name=name))

        timeout = self.options.watch_timeout
        spawn(
            watch_forever(self.kube, DGDS, None, self._on_dgd, self.synced.set, timeout_seconds=timeout),
            "watch-dgds",
        )
        for res, name in ((k.DEPLOYMENTS, "watch-deployments"), (k.SERVICES, "watch-services")):
            spawn(watch_forever(self.kube, res, LABEL_DGD_NAME, self._on_child, timeout_seconds=timeout), name)
        spawn(self.queue.run_workers(max(1, self.options.workers), self._handle), "workers")
        await self.synced.wait()
        log.info("ready: watching DGDs in all namespaces (%d workers)", self.options.workers)
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # a crashed task ends the process loudly
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.queue.close()  # pending retry timers

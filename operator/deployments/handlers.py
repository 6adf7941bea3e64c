"""kopf wiring for KubeFoundryDeployment: every signal only enqueues the deployment's key.

Only the deployments of this operator instance (runtime/instance.py) are handled. Signals: the deployment
itself, the provider resources it owns, their pods, the provider CRDs
appearing or disappearing, and a periodic resync. The work queue deduplicates them and the
reconciler (reconciler.py) does the work, so a burst of pod events costs one
reconcile. Watch handlers (`on.event`) add no finalizers or annotations to anybody's objects.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from typing import Any

import kopf

from ..models.common import GROUP, VERSION
from ..models.deployment import PLURAL
from ..providers import all_providers
from ..providers.rendering import DEPLOYMENT_LABEL
from ..runtime import instance
from ..runtime import kube as k
from ..runtime.workqueue import WorkQueue
from . import resync
from .reconciler import DeploymentReconciler, ObjectCache, crd_established, crd_name

log = logging.getLogger(__name__)

Key = tuple[str, str]
WORKERS = int(os.environ.get("KUBEFOUNDRY_WORKERS", "16"))
RESYNC_SECONDS = float(os.environ.get("KUBEFOUNDRY_RESYNC_SECONDS", "60"))
PROVIDER_CRDS = {crd_name(p.resource) for p in all_providers()}


class DeploymentController:
    """The queue, its workers and the set of deployments known from the watch."""

    def __init__(self, kube: k.Kube) -> None:
        self.kube = kube
        self.queue: WorkQueue[Key] = WorkQueue()
        self.cache = ObjectCache()
        self.reconciler = DeploymentReconciler(kube, self.cache)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self.queue.run_workers(WORKERS, self._handle), name="kfd-workers"),
            asyncio.create_task(self._resync_forever(), name="kfd-resync"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.queue.close()

    def enqueue_all(self) -> None:
        for key in list(self.cache.deployments):
            self.queue.add(key)

    async def _handle(self, key: Key) -> None:
        try:
            outcome = await self.reconciler.reconcile(*key)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one bad object must not stop the others; retry it with backoff
            if k.transient(exc):  # the API server unreachable, starting or overloaded: expected, one line
                delay = self.queue.backoff(key, base=2.0, cap=30.0)
                log.warning("reconcile %s/%s: %s; retrying in %.0fs", key[0], key[1], exc, delay)
                return
            delay = self.queue.backoff(key)
            log.exception("reconcile %s/%s failed; retrying in %.0fs", key[0], key[1], delay)
            return
        self.queue.forget(key)
        if outcome.requeue_after is not None:
            self.queue.add_after(key, outcome.requeue_after)

    async def _resync_forever(self) -> None:
        while True:
            await asyncio.sleep(RESYNC_SECONDS)
            try:
                await resync.converge(self.kube, self.cache, (p.resource for p in all_providers()))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the next resync tries again; reconciles go on meanwhile
                log.warning("resync: could not compare the caches with the cluster: %s", exc)
            self.enqueue_all()


def _controller(memo: Any) -> DeploymentController:
    controller: DeploymentController = memo.deployments
    return controller


@kopf.on.startup()
async def deployments_startup(memo: kopf.Memo, **_: Any) -> None:
    kube = await k.Kube.connect()
    memo.deployments = DeploymentController(kube)
    memo.deployments.start()
    log.info("KubeFoundryDeployment controller started with %d workers", WORKERS)


@kopf.on.cleanup()
async def deployments_cleanup(memo: kopf.Memo, **_: Any) -> None:
    controller = getattr(memo, "deployments", None)
    if controller is not None:
        await controller.stop()
        await controller.kube.close()


@kopf.on.event(GROUP, VERSION, PLURAL)
async def kubefoundrydeployment_event(
    type: str, event: Mapping[str, Any], namespace: str | None, name: str, memo: Any, **_: Any
) -> None:
    controller = _controller(memo)
    key = (namespace or "", name)
    # Filtered here rather than by kopf's labels=: a deployment relabelled to another operator instance must
    # leave this one's cache, and kopf sends a filtered handler nothing once the object stops matching.
    if type == "DELETED" or not instance.handles(event["object"]):
        controller.cache.deployments.pop(key, None)
        controller.queue.forget(key)
        return
    controller.cache.deployments[key] = event["object"]
    controller.queue.add(key)


def _provider_resource_event_for(res: k.Resource) -> Any:
    async def provider_resource_event(
        type: str,
        event: Mapping[str, Any],
        labels: Mapping[str, str],
        namespace: str | None,
        name: str,
        memo: Any,
        **_: Any,
    ) -> None:
        controller = _controller(memo)
        ns = namespace or ""
        cache_key = ObjectCache.child_key(res, ns, name)
        if type == "DELETED":
            controller.cache.children.pop(cache_key, None)
        else:
            controller.cache.children[cache_key] = event["object"]
        controller.queue.add((ns, labels.get(DEPLOYMENT_LABEL) or name))

    return provider_resource_event


def _pod_event_for(label: str) -> Any:
    async def pod_event(labels: Mapping[str, str], namespace: str | None, memo: Any, **_: Any) -> None:
        owner = labels.get(label)
        if owner and namespace:
            # Pods change in bursts; a short delay folds a burst into one reconcile.
            _controller(memo).queue.add_after((namespace, owner), 0.5)

    return pod_event


@kopf.on.event("apiextensions.k8s.io", "v1", "customresourcedefinitions")
async def provider_crd_event(type: str, event: Mapping[str, Any], name: str, memo: Any, **_: Any) -> None:
    if name in PROVIDER_CRDS:
        controller = _controller(memo)
        controller.cache.crds[name] = type != "DELETED" and crd_established(event["object"])
        controller.enqueue_all()


for _provider in all_providers():
    _res = _provider.resource
    kopf.on.event(
        _res.group,
        _res.version,
        _res.plural,
        labels={DEPLOYMENT_LABEL: kopf.PRESENT},
        id=f"{_provider.id}-resource-event",
    )(_provider_resource_event_for(_res))
    kopf.on.event(
        "",
        "v1",
        "pods",
        labels={_provider.instance_label: kopf.PRESENT},
        id=f"{_provider.id}-pod-event",
    )(_pod_event_for(_provider.instance_label))

"""What the handlers share: the Kubernetes client, the watch-backed caches, and small lookups on them."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from kubefoundry.operator.models.deployment import KFD
from kubefoundry.operator.providers import DEFAULT_PROVIDER_ID, Provider, UnknownProvider, all_providers, get_provider
from kubefoundry.operator.providers.detect import InstallationState, detect_installation
from kubefoundry.operator.runtime import kube as k
from kubefoundry.operator.runtime import settings as kf_settings

from . import gpus, selectors, views
from .cache import Transform, WatchCache
from .errors import ApiError, Code, unavailable
from .feed import DeploymentFeed

log = logging.getLogger(__name__)

Obj = dict[str, Any]


def pod_label_keys(providers: list[Provider]) -> list[str]:
    """One label key per provider that every pod of every deployment of that provider carries."""
    keys: list[str] = []
    for provider in providers:
        positive = selectors.positive_keys(provider.pod_selector("probe"))
        if not positive:
            raise ValueError(f"provider {provider.id}: pod_selector has no label a pod must carry")
        if positive[0] not in keys:
            keys.append(positive[0])
    return keys


@dataclass
class Timing:
    sync_timeout: float = 5.0  # how long a read waits for a cache that is still doing its first list
    probe_timeout: float = 3.0  # GET /version for /cluster/status
    install_ttl: float = 2.0  # how long a provider installation check is reused
    min_retry: float = 0.2
    max_retry: float = 5.0


@dataclass
class ApiContext:
    kube: k.Kube
    timing: Timing = field(default_factory=Timing)

    def __post_init__(self) -> None:
        self.deployments = self._cache(KFD, "deployments", transform=views.deployment_entry)
        self.pods = {
            key: self._cache(k.PODS, f"pods[{key}]", label_selector=key, transform=views.pod_entry)
            for key in pod_label_keys(all_providers())
        }
        self.gpu_pods = self._cache(
            k.PODS, "gpu-pods", field_selector=gpus.ACTIVE_POD_FIELD_SELECTOR, transform=gpus.gpu_pod_entry
        )
        self.nodes = self._cache(k.NODES, "gpu-nodes", transform=gpus.node_entry)
        self._installations: dict[str, tuple[float, InstallationState]] = {}
        self.list_memo: dict[str | None, tuple[int, bytes]] = {}  # GET /deployments bodies by namespace
        self.last_provider_id = DEFAULT_PROVIDER_ID
        self.feed = DeploymentFeed(self.deployments, self.deployment_list_body)

    def _cache(
        self,
        resource: k.Resource,
        name: str,
        *,
        transform: Transform,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> WatchCache:
        return WatchCache(
            self.kube,
            resource,
            name=name,
            label_selector=label_selector,
            field_selector=field_selector,
            transform=transform,
            min_delay=self.timing.min_retry,
            max_delay=self.timing.max_retry,
        )

    @property
    def caches(self) -> list[WatchCache]:
        return [self.deployments, *self.pods.values(), self.gpu_pods, self.nodes]

    def start(self) -> None:
        self.feed.start()  # before the caches: it announces their first list too
        for cache in self.caches:
            cache.start()

    async def stop(self) -> None:
        await self.feed.stop()
        await asyncio.gather(*(cache.stop() for cache in self.caches))

    async def require(self, *caches: WatchCache) -> None:
        """Raises CLUSTER_UNAVAILABLE unless every cache is synced and connected (FORBIDDEN: RBAC refused)."""
        for cache in caches:
            if not cache.synced and cache.connected is None:  # the first list is under way
                await cache.wait_synced(self.timing.sync_timeout)
            if cache.last_status == 403:
                raise ApiError(
                    Code.FORBIDDEN, f"The Kubernetes API server refused to list {cache.name}: {cache.last_error}"
                )
            if not cache.ready:
                reason = cache.last_error or "the cache has not synced yet"
                raise unavailable(f"The Kubernetes API cannot be reached ({cache.name}: {reason})")

    # --- lookups -------------------------------------------------------------------------------------

    def deployment_list_body(self, namespace: str | None) -> bytes:
        """The serialised list, memoised until the cache changes (the list is the hot path of every UI)."""
        version = self.deployments.version
        memo = self.list_memo.get(namespace)
        if memo is not None and memo[0] == version:
            return memo[1]
        summaries = sorted(
            (e["summary"] for e in self.deployments.items(namespace)), key=lambda s: (s["namespace"], s["name"])
        )
        body = json.dumps({"deployments": summaries}, separators=(",", ":")).encode()
        if len(self.list_memo) > 64:
            self.list_memo.clear()
        self.list_memo[namespace] = (version, body)
        return body

    def pods_of(self, namespace: str, name: str, provider_id: str | None) -> tuple[WatchCache | None, list[Obj]]:
        """The pod summaries of a deployment, by its provider's pod selector."""
        if provider_id is None:
            return None, []
        try:
            provider = get_provider(provider_id)
        except UnknownProvider:
            return None, []
        requirements = selectors.parse(provider.pod_selector(name))
        key = next(r.key for r in requirements if r.op in ("in", "exists"))
        cache = self.pods[key]
        found = [
            p["summary"] for p in cache.items(namespace) if selectors.matches(requirements, p["metadata"]["labels"])
        ]
        return cache, sorted(found, key=lambda s: str(s["name"]))

    async def active_provider_id(self) -> str:
        current: str = (await kf_settings.read_settings(self.kube)).active_provider_id
        self.last_provider_id = current
        return current

    async def installation(self, provider: Provider) -> InstallationState:
        cached = self._installations.get(provider.id)
        now = time.monotonic()
        if cached is not None and now - cached[0] < self.timing.install_ttl:
            return cached[1]
        state = await detect_installation(self.kube, provider)
        self._installations[provider.id] = (now, state)
        return state

    def forget_installation(self, provider_id: str) -> None:
        """After KubeFoundry changed an installation, the next status read must look again."""
        self._installations.pop(provider_id, None)

    async def probe(self) -> bool:
        """Whether the API server answers right now."""
        try:
            await asyncio.wait_for(self.kube.request("GET", "/version"), self.timing.probe_timeout)
        except (k.ClusterUnavailable, TimeoutError):
            return False
        except k.KubeError:
            return True  # it answered, even if only to refuse
        return True


CONTEXT = web.AppKey("context", ApiContext)


def context_of(request: web.Request) -> ApiContext:
    return request.app[CONTEXT]

"""Makes the operator's watch caches converge with the cluster, whatever the watches missed.

After a watch gap (a `410 Gone`, a partition) kopf relists and replays the objects that exist but sends
no DELETED for those that vanished meanwhile, so a cache fed only by events would keep them for ever: a
deleted deployment would be reconciled from the cache every resync, its provider resource re-created with
a dead owner and garbage-collected again. Each resync therefore lists what the caches hold (one LIST per
kind and namespace) and evicts the entries the list lacks. The list alone would also evict an object
created after it was read, so each missing entry is confirmed by a GET first; a list and a GET per
discrepancy keep the steady state at one LIST per namespace and kind.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TypeVar

from ..models.deployment import KFD
from ..runtime import kube as k
from .reconciler import ObjectCache, crd_established

log = logging.getLogger(__name__)
K = TypeVar("K", tuple[str, str], tuple[str, str, str])


async def converge(kube: k.Kube, cache: ObjectCache, resources: Iterable[k.Resource]) -> int:
    """Evicts what no longer exists from `cache` and refreshes its CRD presence; returns the evictions."""
    evicted = 0
    for namespace in sorted({ns for ns, _ in cache.deployments}):
        listed = await _names(kube, KFD, namespace)
        for key in [key for key in cache.deployments if key[0] == namespace and key[1] not in listed]:
            evicted += await _confirm(kube, cache.deployments, key, KFD, key[1], namespace)
    by_crd = {f"{res.plural}.{res.group}": res for res in resources}
    for crd, res in by_crd.items():
        found = await kube.get_or_none(k.CRDS, crd)
        present = crd_established(found)
        if cache.crds.get(crd) and not present:
            log.info("CustomResourceDefinition %s is gone (missed by the watch)", crd)
        cache.crds[crd] = present
        if found is None:
            gone = [c for c in cache.children if c[0] == crd]
            for child_key in gone:
                cache.children.pop(child_key, None)
            evicted += len(gone)
            continue
        for namespace in sorted({ns for kind, ns, _ in cache.children if kind == crd}):
            listed = await _names(kube, res, namespace)
            for child_key in [c for c in cache.children if c[0] == crd and c[1] == namespace and c[2] not in listed]:
                evicted += await _confirm(kube, cache.children, child_key, res, child_key[2], namespace)
    if evicted:
        log.info("resync: evicted %d cached object(s) deleted while a watch was not looking", evicted)
    return evicted


async def _names(kube: k.Kube, res: k.Resource, namespace: str) -> set[str]:
    items = (await kube.list(res, namespace))["items"]
    return {item["metadata"]["name"] for item in items}


async def _confirm(
    kube: k.Kube, entries: dict[K, k.JSON], key: K, res: k.Resource, name: str, namespace: str
) -> int:
    """1 if the object behind `key` is gone (evicted); 0 if it exists (the cache gets its current copy)."""
    current = await kube.get_or_none(res, name, namespace)
    if current is None:
        entries.pop(key, None)
        return 1
    cached = entries.get(key)
    if cached is not None and cached["metadata"].get("uid") != current["metadata"].get("uid"):
        entries[key] = current  # deleted and made again under the same name while the watch was away
    return 0

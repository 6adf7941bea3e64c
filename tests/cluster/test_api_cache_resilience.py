"""The API's watch caches against a misbehaving API server: no relist storms, watches resumed.

A proxy in front of the real API server (faulty_apiserver.py) answers watches with 410 Gone, 504 or 403,
or cuts them after one event. The cache runs with the API's production retry settings (0.2 s doubling to
5 s). Before: a watch answering 410 made 174 LISTs in 3 s, one answering 403 or 504 made 14, and every
cut watch was a full relist with 503 answers meanwhile.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from faulty_apiserver import FaultyApiServer, answer_watches, expire_watches, wait_until

from kubefoundry.api.cache import WatchCache
from kubefoundry.api.context import Timing
from kubefoundry.operator.runtime import kube as k

pytest_plugins = ["faulty_apiserver"]

WINDOW_S = 3.0
PATH = "/api/v1/configmaps"


@pytest.fixture
async def cache(faulty: FaultyApiServer, tmp_path: Path, namespace: str) -> AsyncIterator[tuple[WatchCache, str]]:
    client = await k.Kube.connect(str(faulty.kubeconfig(tmp_path / "faulty.kubeconfig")), timeout=5.0)
    label = f"kubefoundry.io/cache-test={uuid.uuid4().hex[:8]}"
    timing = Timing()  # what the API runs with
    watched = WatchCache(
        client, k.CONFIGMAPS, label_selector=label, min_delay=timing.min_retry, max_delay=timing.max_retry
    )
    watched.start()
    await wait_until(lambda: watched.ready, 30, "the cache to sync")
    yield watched, label
    await watched.stop()
    await client.close()


def configmap(name: str, label: str) -> k.JSON:
    key, value = label.split("=")
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {key: value}}}


async def _lists_during(faulty: FaultyApiServer, cache: WatchCache, seconds: float) -> tuple[int, int, bool]:
    """LISTs and watches sent in `seconds`, and whether the cache stayed ready throughout."""
    start = len(faulty.seen)
    ready = True
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        ready = ready and cache.ready
        await asyncio.sleep(0.05)
    return (
        len(faulty.requests(PATH, since=start, watch=False)),
        len(faulty.requests(PATH, since=start, watch=True)),
        ready,
    )


async def test_the_first_list_is_served_from_the_watch_cache(
    faulty: FaultyApiServer, cache: tuple[WatchCache, str]
) -> None:
    first = faulty.requests(PATH, watch=False)[0]
    assert first.query.get("resourceVersion") == "0", first  # not a quorum read from etcd


async def test_expired_watches_do_not_make_it_relist_in_a_loop(
    faulty: FaultyApiServer, cache: tuple[WatchCache, str]
) -> None:
    faulty.fault = expire_watches()
    lists, watches, _ = await _lists_during(faulty, cache[0], WINDOW_S)
    print(f"410 Gone on every watch: {lists} LISTs, {watches} watches in {WINDOW_S:.0f} s")
    assert 1 <= lists <= 6, lists  # 0.2, 0.4, 0.8, 1.6 s apart (± jitter); was 174
    relists = faulty.requests(PATH, watch=False)[1:]
    assert all(r.query.get("resourceVersion") == "0" for r in relists), relists  # the watch cache moved on


async def test_failing_watches_are_retried_from_where_they_were(
    faulty: FaultyApiServer, cache: tuple[WatchCache, str], kube: k.Kube, namespace: str
) -> None:
    watched, label = cache
    created = await kube.create(k.CONFIGMAPS, configmap("seen", label), namespace)
    await wait_until(lambda: watched.get(namespace, "seen") is not None, 30, "the configmap in the cache")
    faulty.fault = answer_watches(504, "Timeout", "the gateway timed out")
    lists, watches, ready = await _lists_during(faulty, watched, WINDOW_S)
    print(f"504 on every watch: {lists} LISTs, {watches} watches in {WINDOW_S:.0f} s")
    assert lists <= 1 and 2 <= watches <= 6, (lists, watches)  # was 14 LISTs
    assert ready, "the cache answered 503 while its watch was being retried"
    # The first retries resume from the version the cache had reached (the configmap's, or a later bookmark).
    retried = {int(r.query["resourceVersion"]) for r in faulty.requests(PATH, watch=True)[-watches:][:2]}
    assert len(retried) == 1 and retried.pop() >= int(created["metadata"]["resourceVersion"]), retried
    for relist in faulty.requests(PATH, watch=False)[1:]:  # after three failures, from the watch cache
        assert relist.query.get("resourceVersionMatch") == "NotOlderThan" and relist.query.get("resourceVersion")

    faulty.fault = None
    await kube.create(k.CONFIGMAPS, configmap("after", label), namespace)
    await wait_until(lambda: watched.get(namespace, "after") is not None, 30, "the cache to follow again")


async def test_refused_watches_relist_with_backoff(faulty: FaultyApiServer, cache: tuple[WatchCache, str]) -> None:
    faulty.fault = answer_watches(403, "Forbidden", "watch is not allowed")
    lists, watches, _ = await _lists_during(faulty, cache[0], WINDOW_S)
    print(f"403 on every watch: {lists} LISTs, {watches} watches in {WINDOW_S:.0f} s")
    assert 1 <= lists <= 6, lists  # was 14


async def test_cut_watches_are_resumed_without_a_relist(
    faulty: FaultyApiServer, cache: tuple[WatchCache, str], kube: k.Kube, namespace: str
) -> None:
    watched, label = cache
    lists_before = len(faulty.requests(PATH, watch=False))
    faulty.cut_watches_after_events = 1
    ready = True
    for i in range(5):
        await kube.create(k.CONFIGMAPS, configmap(f"cm-{i}", label), namespace)

        async def arrived(name: str = f"cm-{i}") -> None:
            await wait_until(lambda: watched.get(namespace, name) is not None, 30, f"{name} in the cache")

        waiting = asyncio.ensure_future(arrived())
        while not waiting.done():
            ready = ready and watched.ready
            await asyncio.sleep(0.02)
        await waiting
    assert ready, "the cache stopped answering while a watch was resumed"
    assert len(faulty.requests(PATH, watch=False)) == lists_before, "a cut watch made the cache relist"
    versions = [int(w.query["resourceVersion"]) for w in faulty.requests(PATH, watch=True)]
    assert len(versions) >= 5 and versions == sorted(versions), versions  # each resumed where the last stopped

"""The deployment feed behind GET /api/deployments/events: resume, snapshots, relist differences, fan-out.

The feed is driven through the real WatchCache's write paths (upsert, remove, the relist's replace), which
touch no API server; the stream over HTTP against a real cluster is tests/cluster/test_api_live.py.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from kubefoundry.api import views
from kubefoundry.api.cache import WatchCache
from kubefoundry.api.feed import DeploymentFeed, Subscriber
from kubefoundry.operator.models.deployment import KFD

Obj = dict[str, Any]


def kfd(name: str, namespace: str = "a", rv: int = 1, phase: str | None = None) -> Obj:
    return {
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": str(rv)},
        "spec": {"modelId": "Qwen/Qwen3-0.6B"},
        "status": {"phase": phase} if phase else {},
    }


def parse(frames: list[bytes]) -> list[tuple[str | None, str, Obj]]:
    """(id, event, data) of each frame."""
    out = []
    for raw in b"".join(frames).decode().split("\n\n"):
        if not raw:
            continue
        fields = dict(line.split(": ", 1) for line in raw.split("\n"))
        out.append((fields.get("id"), fields["event"], json.loads(fields["data"])))
    return out


def snapshot_of(cache: WatchCache) -> Any:
    def build(namespace: str | None) -> bytes:
        items = sorted((e["summary"] for e in cache.items(namespace)), key=lambda s: (s["namespace"], s["name"]))
        return json.dumps({"deployments": items}).encode()

    return build


@pytest.fixture
async def feed() -> Any:
    cache = WatchCache(None, KFD, transform=views.deployment_entry)  # type: ignore[arg-type]  # never lists
    feed = DeploymentFeed(cache, snapshot_of(cache), history=5)
    feed.start()
    yield feed
    await feed.stop()


def drain(sub: Subscriber) -> list[tuple[str | None, str, Obj]]:
    frames = list(sub.frames)
    sub.frames.clear()
    return parse(frames)


async def test_a_new_subscriber_gets_a_snapshot_then_changes(feed: DeploymentFeed) -> None:
    feed.cache.upsert(kfd("one"))
    sub = feed.subscribe(None)
    [(first_id, event, data)] = drain(sub)
    assert event == "snapshot" and [d["name"] for d in data["deployments"]] == ["one"]
    assert first_id == feed.event_id()

    feed.cache.upsert(kfd("one", rv=2, phase="Running"))
    feed.cache.remove("a", "one", "3")
    changes = drain(sub)
    assert [(e, d.get("deployment", d).get("phase", d.get("name"))) for _, e, d in changes] == [
        ("upsert", "Running"),
        ("delete", "one"),
    ]
    assert changes[1][2] == {"namespace": "a", "name": "one"}


async def test_the_watch_echoing_a_write_sends_nothing_new(feed: DeploymentFeed) -> None:
    sub = feed.subscribe(None)
    drain(sub)
    feed.cache.upsert(kfd("one", rv=5))
    feed.cache.upsert(kfd("one", rv=5))  # the watch's ADDED after the API's own write-through
    assert [e for _, e, _ in drain(sub)] == ["upsert"]


async def test_resume_replays_exactly_what_was_missed(feed: DeploymentFeed) -> None:
    feed.cache.upsert(kfd("one"))
    last = feed.event_id()
    feed.cache.upsert(kfd("two"))
    feed.cache.upsert(kfd("one", rv=2, phase="Running"))
    sub = feed.subscribe(None, last)
    replay = drain(sub)
    assert [(e, d["deployment"]["name"]) for _, e, d in replay] == [("upsert", "two"), ("upsert", "one")]
    assert replay[-1][0] == feed.event_id()
    # Up to date: nothing to replay, and no snapshot either.
    assert drain(feed.subscribe(None, feed.event_id())) == []


@pytest.mark.parametrize("last_id", ["someone-else-3", "garbage", "", "00000000-999"])
async def test_an_unknown_id_gets_a_snapshot(feed: DeploymentFeed, last_id: str) -> None:
    feed.cache.upsert(kfd("one"))
    [(_, event, _)] = drain(feed.subscribe(None, last_id))
    assert event == "snapshot"


async def test_an_id_older_than_the_history_gets_a_snapshot(feed: DeploymentFeed) -> None:
    feed.cache.upsert(kfd("one"))
    old = feed.event_id()
    for rv in range(2, 9):  # more changes than the history (5) holds
        feed.cache.upsert(kfd("one", rv=rv, phase="Running" if rv % 2 else "Pending"))
    [(_, event, data)] = drain(feed.subscribe(None, old))
    assert event == "snapshot" and data["deployments"][0]["name"] == "one"


async def test_a_relist_sends_only_the_differences(feed: DeploymentFeed) -> None:
    feed.cache.upsert(kfd("same"))
    feed.cache.upsert(kfd("changed"))
    feed.cache.upsert(kfd("deleted"))
    sub = feed.subscribe(None)
    drain(sub)
    # What a relist after a disconnect finds: one unchanged, one changed, one gone, one new.
    feed.cache._replace_all([kfd("same"), kfd("changed", rv=7, phase="Running"), kfd("new", rv=8)])
    got = {(e, d.get("deployment", d)["name"]) for _, e, d in drain(sub)}
    assert got == {("upsert", "changed"), ("delete", "deleted"), ("upsert", "new")}


async def test_namespaces_are_filtered_per_subscriber(feed: DeploymentFeed) -> None:
    feed.cache.upsert(kfd("x", namespace="a"))
    feed.cache.upsert(kfd("y", namespace="b"))
    only_b = feed.subscribe("b")
    [(_, _, snap)] = drain(only_b)
    assert [d["name"] for d in snap["deployments"]] == ["y"]
    feed.cache.upsert(kfd("x", namespace="a", rv=2, phase="Running"))
    feed.cache.upsert(kfd("y", namespace="b", rv=3, phase="Running"))
    assert [d["deployment"]["name"] for _, _, d in drain(only_b)] == ["y"]


async def test_a_subscriber_that_falls_behind_is_disconnected(feed: DeploymentFeed) -> None:
    slow = feed.subscribe(None)
    slow.backlog = 3
    for rv in range(1, 6):
        feed.cache.upsert(kfd(f"d{rv}", rv=rv))
    assert slow.closed and slow.overflowed
    assert await slow.next_batch(0.01) == []  # nothing half-sent: it resumes from its last id
    assert feed.subscribers == 0


async def test_waiting_subscribers_wake_on_a_change_and_end_at_shutdown(feed: DeploymentFeed) -> None:
    sub = feed.subscribe(None)
    drain(sub)
    waiting = asyncio.create_task(sub.next_batch(5))
    await asyncio.sleep(0)
    feed.cache.upsert(kfd("one"))
    assert [e for _, e, _ in parse(await asyncio.wait_for(waiting, 1))] == ["upsert"]
    assert await sub.next_batch(0.01) == []  # nothing new within the time: a keep-alive is due
    feed.close_streams()
    assert sub.closed

"""The live feed of deployment changes behind ``GET /api/deployments/events`` (server-sent events).

One feed per API process, fed by the deployment cache's change hook: the server holds one watch,
whatever the number of browsers. Each change gets a sequence number and is encoded once as an SSE
frame, kept in a bounded history and pushed to every subscriber whose namespace matches. Ids are
``<epoch>-<seq>``, the epoch random per process, so a browser that reconnects with ``Last-Event-ID``
replays exactly what it missed when the history still holds it, and otherwise (the history moved
on, the server restarted, another replica answers) starts again from a snapshot of the whole list.

After a relist (the cache reconnected or its watch expired) the feed compares the new content with
what it last announced and sends only the differences, so a reconnecting cache never loses a change.
A subscriber that falls too far behind is disconnected rather than buffered without bound; it
reconnects and resumes like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .cache import Key, Obj, WatchCache, key_of

HISTORY = 8192  # changes kept for resuming browsers (about 5 MB of frames at most)
SUBSCRIBER_BACKLOG = 4096  # frames a subscriber may have waiting before it is disconnected
MONITOR_INTERVAL = 0.5  # how often the cache's connection state is checked


def frame(event: str, data: Any, event_id: str | None = None) -> bytes:
    """One server-sent event; the JSON has no newline, so it is a single data line."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    body = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode()
    return f"{head}event: {event}\ndata: ".encode() + body + b"\n\n"


@dataclass(eq=False)  # compared and hashed by identity: the feed keeps a set of them
class Subscriber:
    """One open stream: frames wait here until its handler writes them."""

    namespace: str | None
    backlog: int = SUBSCRIBER_BACKLOG
    frames: deque[bytes] = field(default_factory=deque)
    closed: bool = False
    overflowed: bool = False
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def wants(self, namespace: str) -> bool:
        return self.namespace is None or self.namespace == namespace

    def push(self, data: bytes) -> None:
        if self.closed:
            return
        if len(self.frames) >= self.backlog:
            self.overflowed = True
            self.close()
            return
        self.frames.append(data)
        self._wake.set()

    def close(self) -> None:
        self.closed = True
        self._wake.set()

    async def next_batch(self, timeout: float) -> list[bytes]:
        """The frames waiting (at most `timeout` seconds for one); [] when none came in time."""
        if not self.frames and not self.closed:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
        if self.overflowed:
            return []  # the client resumes from the last frame it got; nothing half-sent
        batch = list(self.frames)
        self.frames.clear()
        return batch


@dataclass(frozen=True)
class _Change:
    seq: int
    namespace: str
    data: bytes


class DeploymentFeed:
    def __init__(
        self,
        cache: WatchCache,
        snapshot: Callable[[str | None], bytes],
        *,
        history: int = HISTORY,
        monitor_interval: float = MONITOR_INTERVAL,
    ) -> None:
        """`snapshot(namespace)`: the serialised `{"deployments": [...]}` the cache holds right now."""
        self.cache = cache
        self._snapshot = snapshot
        self.epoch = secrets.token_hex(4)
        self.seq = 0
        self._history: deque[_Change] = deque(maxlen=history)
        self._announced: dict[Key, Obj] = {}  # the summary last sent per deployment, to diff after a relist
        self._subscribers: set[Subscriber] = set()
        self._monitor_interval = monitor_interval
        # What subscribers were last told: a stream starts connected (it is refused while the cache is not).
        self._connected = True
        self._unsubscribe: Callable[[], None] | None = None
        self._monitor: asyncio.Task[None] | None = None

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        if self._unsubscribe is None:
            self._unsubscribe = self.cache.subscribe(self._on_change)
            self._monitor = asyncio.create_task(self._watch_connection(), name="deployment-feed-monitor")

    def close_streams(self) -> None:
        """Ends every open stream (at server shutdown, before aiohttp waits for handlers)."""
        for sub in list(self._subscribers):
            sub.close()

    async def stop(self) -> None:
        self.close_streams()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
            self._monitor = None

    # --- subscribers --------------------------------------------------------------------------------

    def event_id(self) -> str:
        return f"{self.epoch}-{self.seq}"

    def _missed_since(self, last_event_id: str | None) -> list[_Change] | None:
        """The changes after `last_event_id` if the history still holds all of them, else None."""
        if not last_event_id:
            return None
        epoch, _, seq_text = last_event_id.strip().rpartition("-")
        if epoch != self.epoch or not seq_text.isdigit():
            return None
        seq = int(seq_text)
        if seq > self.seq:
            return None
        oldest = self._history[0].seq if self._history else self.seq + 1
        if seq < oldest - 1:  # changes between seq and the oldest kept are gone
            return None
        return [c for c in self._history if c.seq > seq]

    def subscribe(self, namespace: str | None, last_event_id: str | None = None) -> Subscriber:
        """A new stream, primed with what the client missed, or with a snapshot of the whole list."""
        sub = Subscriber(namespace)
        missed = self._missed_since(last_event_id)
        if missed is None:
            sub.push(frame("snapshot", self._snapshot(namespace), self.event_id()))
        else:
            for change in missed:
                if sub.wants(change.namespace):
                    sub.push(change.data)
        if self.cache.connected is False:
            sub.push(self._status_frame(False))
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    # --- changes ------------------------------------------------------------------------------------

    def _on_change(self, key: Key | None, entry: Obj | None) -> None:
        if key is None:  # a relist replaced everything: announce the differences
            current = {key_of(e): e for e in self.cache.items()}
            for gone in [k for k in self._announced if k not in current]:
                self._announce(gone, None)
            for k, e in current.items():
                self._announce(k, e)
            return
        self._announce(key, entry)

    def _announce(self, key: Key, entry: Obj | None) -> None:
        if entry is None:
            if self._announced.pop(key, None) is None:
                return
            self._publish(key[0], "delete", {"namespace": key[0], "name": key[1]})
            return
        summary = entry["summary"]
        if self._announced.get(key) == summary:
            return  # the watch echoing a write the API already applied, or a relist that changed nothing
        self._announced[key] = summary
        self._publish(key[0], "upsert", {"deployment": summary})

    def _publish(self, namespace: str, event: str, data: Obj) -> None:
        self.seq += 1
        change = _Change(self.seq, namespace, frame(event, data, self.event_id()))
        self._history.append(change)
        for sub in list(self._subscribers):
            if sub.wants(namespace):
                sub.push(change.data)
            if sub.closed:
                self._subscribers.discard(sub)

    # --- connection state ----------------------------------------------------------------------------

    def _status_frame(self, connected: bool) -> bytes:
        message = None if connected else (self.cache.last_error or "the Kubernetes API cannot be reached")
        return frame("status", {"connected": connected, "message": message})

    async def _watch_connection(self) -> None:
        while True:
            connected = self.cache.connected
            if connected is not None and connected != self._connected:
                data = self._status_frame(connected)
                for sub in list(self._subscribers):
                    sub.push(data)
                self._connected = connected
            await asyncio.sleep(self._monitor_interval)

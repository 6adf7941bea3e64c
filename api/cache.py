"""Watch-backed in-memory caches: list once, then follow a watch, resuming it where it stopped.

A ``WatchCache`` keeps one kind of object (optionally narrowed by label and field selectors and
reduced by a ``transform`` that keeps only the fields the API serves). Reads never touch the API
server. ``connected`` is False while the API server cannot be reached; ``synced`` is True once a
list has completed. Writes made through the API are applied to the cache at once (``upsert`` and
``remove``), so a client reads its own writes before the watch event arrives; resourceVersions
(compared as integers when both are) keep a late watch event, or a list older than a write, from
undoing a newer write. The cache's content changes in exactly three places: ``upsert``, ``_drop`` and
``_replace_all``.

Following the API server (as client-go's reflector does): the first list is served from the API
server's watch cache (``resourceVersion=0``), not read from etcd; a relist asks for a state at least as
new as the one the cache holds (``NotOlderThan``). A watch that ends or breaks is resumed from the last
resourceVersion seen, without a relist and without answering 503 meanwhile; only an expired version
(410 Gone), a refusal (403, 404, ...) or repeated 429/5xx answers make the cache list again. Every retry
and relist waits an exponential, jittered backoff that returns to its start only after the cache has
run for a while without needing one, so a watch that keeps failing cannot make it relist in a loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterable
from typing import Any

from kubefoundry.operator.runtime import kube as k

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Transform = Callable[[Obj], Obj | None]
Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects
# Called synchronously after each change: (key, the object now, or None when removed); (None, None) after a
# relist replaced everything, when the listener compares for itself.
Listener = Callable[[Key | None, Obj | None], None]

TOMBSTONE_SECONDS = 60.0
# Watch attempts from one resourceVersion answered 429/5xx before the cache lists again instead.
MAX_WATCH_RETRIES = 3
# A watch that ends sooner than this without an event was not ended by the API server's timeout.
MIN_WATCH_SECONDS = 1.0


def key_of(obj: Obj) -> Key:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def _rv(obj: Obj) -> int | None:
    return _int_or_none((obj.get("metadata") or {}).get("resourceVersion"))


def _int_or_none(value: Any) -> int | None:
    try:
        return int(str(value)) if value is not None else None
    except ValueError:
        return None


def _older(new_rv: int | None, old_rv: int | None) -> bool:
    return new_rv is not None and old_rv is not None and new_rv < old_rv


class WatchCache:
    def __init__(
        self,
        kube: k.Kube,
        resource: k.Resource,
        *,
        name: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        transform: Transform | None = None,
        min_delay: float = 0.2,
        max_delay: float = 5.0,
        backoff_reset: float = 60.0,
        watch_timeout: int = 240,
    ) -> None:
        self.kube = kube
        self.resource = resource
        self.name = name or resource.plural
        self.label_selector = label_selector
        self.field_selector = field_selector
        self._transform = transform or (lambda obj: obj)
        self._backoff = Backoff(min_delay, max_delay, backoff_reset)
        self._watch_timeout = watch_timeout
        self._rv: str | None = None  # where the next watch starts; None: list first
        self._last_rv: str | None = None  # the newest resourceVersion seen, for NotOlderThan relists
        self._rv_expired = False
        self._items: dict[Key, Obj] = {}
        self._by_namespace: dict[str, dict[str, Obj]] = {}
        self._tombstones: dict[Key, tuple[int | None, float]] = {}
        self._task: asyncio.Task[None] | None = None
        self._attempted = asyncio.Event()  # set once the first list has succeeded or failed
        self.synced = False
        self.connected: bool | None = None  # None until the first attempt has finished
        self.last_error: str | None = None
        self.last_status: int | None = None  # HTTP status of the last refusal (403: RBAC, 404: no CRD)
        self.version = 0  # bumped on every change: lets readers memoise derived views
        self._listeners: list[Listener] = []

    # --- reading -------------------------------------------------------------------------------

    def get(self, namespace: str, name: str) -> Obj | None:
        return self._items.get((namespace, name))

    def items(self, namespace: str | None = None) -> Iterable[Obj]:
        if namespace is None:
            return self._items.values()
        return (self._by_namespace.get(namespace) or {}).values()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def ready(self) -> bool:
        return self.synced and self.connected is True

    async def wait_synced(self, timeout: float) -> bool:
        """Waits for the first list to finish (or for timeout); True if the cache is synced."""
        if not self.synced:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._attempted.wait(), timeout)
        return self.synced

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Calls `listener` after every change of the content; returns the function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _notify(self, key: Key | None, obj: Obj | None) -> None:
        for listener in list(self._listeners):
            try:
                listener(key, obj)
            except Exception:  # a listener's bug must not stop the cache
                log.exception("%s: change listener failed", self.name)

    # --- writing through (read-your-writes) -----------------------------------------------------

    def upsert(self, raw: Obj) -> None:
        obj = self._transform(raw)
        key = key_of(raw)
        if obj is None:
            self._drop(key, _rv(raw))
            return
        before = self.version
        self._put(key, obj)
        if self.version != before:
            self._notify(key, obj)

    def remove(self, namespace: str, name: str, resource_version: str | None = None) -> None:
        rv: int | None
        try:
            rv = int(resource_version) if resource_version is not None else None
        except ValueError:
            rv = None
        self._drop((namespace, name), rv)

    def _put(self, key: Key, obj: Obj) -> None:
        new_rv = _rv(obj)
        current = self._items.get(key)
        if current is not None and _older(new_rv, _rv(current)):
            return
        tomb = self._tombstones.get(key)
        if tomb is not None:
            if new_rv is None or tomb[0] is None or new_rv <= tomb[0]:
                return
            del self._tombstones[key]
        self._items[key] = obj
        self._by_namespace.setdefault(key[0], {})[key[1]] = obj
        self.version += 1

    def _drop(self, key: Key, rv: int | None) -> None:
        current = self._items.get(key)
        if current is not None and _older(rv, _rv(current)):
            return
        if rv is not None:
            self._tombstones[key] = (rv, time.monotonic())
        if current is not None:
            del self._items[key]
            ns_items = self._by_namespace.get(key[0])
            if ns_items is not None:
                ns_items.pop(key[1], None)
                if not ns_items:
                    del self._by_namespace[key[0]]
            self.version += 1
            self._notify(key, None)

    def _replace_all(self, raw_items: list[Obj], list_rv: int | None = None) -> None:
        """The listing becomes the content; what the cache knows happened after the list's version
        (writes through the API, later deletions) is kept."""
        items: dict[Key, Obj] = {}
        for raw in raw_items:
            obj = self._transform(raw)
            if obj is not None:
                items[key_of(raw)] = obj

        def after_list(rv: int | None) -> bool:
            return list_rv is not None and rv is not None and rv > list_rv

        items.update({key: obj for key, obj in self._items.items() if after_list(_rv(obj))})
        self._tombstones = {key: tomb for key, tomb in self._tombstones.items() if after_list(tomb[0])}
        for key in self._tombstones:
            items.pop(key, None)
        by_ns: dict[str, dict[str, Obj]] = {}
        for (ns, name), obj in items.items():
            by_ns.setdefault(ns, {})[name] = obj
        self._items, self._by_namespace = items, by_ns
        self.version += 1
        self._notify(None, None)

    def _prune_tombstones(self) -> None:
        cutoff = time.monotonic() - TOMBSTONE_SECONDS
        for key in [key for key, (_, at) in self._tombstones.items() if at < cutoff]:
            del self._tombstones[key]

    # --- the list+watch loop ----------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"watch-cache-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        watch_failures = 0  # consecutive 429/5xx answers to watches from the same resourceVersion
        while True:
            opened = False
            try:
                if self._rv is None:
                    await self._list()
                    watch_failures = 0

                def open_() -> None:
                    nonlocal opened
                    opened = True
                    self._mark_connected()

                started = time.monotonic()
                events = await self._follow(open_)
                if events or time.monotonic() - started >= MIN_WATCH_SECONDS:
                    continue  # the API server ended the watch (its timeout): renew it at once
                # Something in between closes watches as soon as they open: back off, as client-go does.
                self._fail("the watch was closed as soon as it opened", connected=True)
            except asyncio.CancelledError:
                raise
            except k.Gone:
                log.info("%s: resourceVersion %s expired, relisting", self.name, self._rv)
                self._rv_expired = True
                self._rv = None
            except k.ClusterUnavailable as exc:
                # A watch that broke after it had opened is resumed; only a failure to connect is an outage.
                if not opened:
                    self._fail(str(exc), connected=False)
            except k.KubeError as exc:
                message = f"{exc.status} {exc.reason}: {exc.message}"
                watch_failures += 1
                if not (k.transient(exc) and self._rv is not None and watch_failures < MAX_WATCH_RETRIES):
                    self._rv = None  # a refusal (a missing CRD, RBAC) or a watch that keeps failing: relist
                self._fail(message, connected=True, status=exc.status)
            except Exception as exc:  # a bug must not end the cache for good
                log.exception("%s: unexpected error in the watch loop", self.name)
                self._fail(repr(exc), connected=self.connected)
                self._rv = None
            await asyncio.sleep(self._backoff.next())

    def _mark_connected(self) -> None:
        if self.connected is False:
            log.info("%s: connected again", self.name)
        self.connected = True
        self.last_error = None
        self.last_status = None

    def _fail(self, message: str, *, connected: bool | None, status: int | None = None) -> None:
        if message != self.last_error or connected != self.connected:
            log.warning("%s: %s", self.name, message)
        self.last_error = message
        self.last_status = status
        self.connected = connected
        self._attempted.set()

    async def _list(self) -> None:
        if self._last_rv is None or self._rv_expired:
            # Any state the API server's watch cache holds; after 410 Gone that cache may have moved past us.
            version, match = "0", None
        else:
            version, match = self._last_rv, "NotOlderThan"
        listing = await self.kube.list(
            self.resource,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            resource_version=version,
            resource_version_match=match,
        )
        rv = (listing.get("metadata") or {}).get("resourceVersion")
        self._replace_all(listing.get("items") or [], _int_or_none(rv))
        self._mark_connected()
        self.synced = True
        self._attempted.set()
        self._rv = self._last_rv = str(rv) if rv else None
        self._rv_expired = False

    async def _follow(self, on_open: Callable[[], None]) -> int:
        """Follows one watch from self._rv until the API server ends it (or it fails); the events seen."""
        events = 0
        async for event in self.kube.watch(
            self.resource,
            resource_version=self._rv,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            timeout_seconds=self._watch_timeout,
            on_open=on_open,
        ):
            obj = event.get("object") or {}
            new_rv = (obj.get("metadata") or {}).get("resourceVersion")
            kind = event.get("type")
            if kind in ("ADDED", "MODIFIED"):
                self.upsert(obj)
            elif kind == "DELETED":
                self._drop(key_of(obj), _rv(obj))
            if new_rv:  # BOOKMARK events move it too
                self._rv = self._last_rv = str(new_rv)
            events += 1
        self._prune_tombstones()
        return events


class Backoff:
    """Exponential, jittered delays that start again from `initial` only after `reset_after` seconds
    without a delay being asked for (client-go's backoff manager): success in between does not reset it."""

    def __init__(self, initial: float, maximum: float, reset_after: float) -> None:
        self.initial = initial
        self.maximum = maximum
        self.reset_after = reset_after
        self._delay = initial
        self._last: float | None = None

    def next(self) -> float:
        now = time.monotonic()
        if self._last is not None and now - self._last > self.reset_after:
            self._delay = self.initial
        delay = self._delay
        self._delay = min(self._delay * 2, self.maximum)
        self._last = now
        return delay * (0.5 + random.random())

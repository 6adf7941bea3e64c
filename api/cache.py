"""Watch-backed in-memory caches: list once, then follow a watch; relist after Gone or a disconnect.

A ``WatchCache`` keeps one kind of object (optionally narrowed by label and field selectors and
reduced by a ``transform`` that keeps only the fields the API serves). Reads never touch the API
server. ``connected`` is False while the API server cannot be reached; ``synced`` is True once a
list has completed. Writes made through the API are applied to the cache at once (``upsert`` and
``remove``), so a client reads its own writes before the watch event arrives; resourceVersions
(compared as integers when both are) keep a late watch event from undoing a newer write.
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


def key_of(obj: Obj) -> Key:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def _rv(obj: Obj) -> int | None:
    value = (obj.get("metadata") or {}).get("resourceVersion")
    if value is None:
        return None
    try:
        return int(str(value))
    except (TypeError, ValueError):
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
        watch_timeout: int = 240,
    ) -> None:
        self.kube = kube
        self.resource = resource
        self.name = name or resource.plural
        self.label_selector = label_selector
        self.field_selector = field_selector
        self._transform = transform or (lambda obj: obj)
        self._min_delay = min_delay
        self._max_delay = max_delay
        self._watch_timeout = watch_timeout
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

    def _replace_all(self, raw_items: list[Obj]) -> None:
        items: dict[Key, Obj] = {}
        for raw in raw_items:
            obj = self._transform(raw)
            if obj is not None:
                items[key_of(raw)] = obj
        by_ns: dict[str, dict[str, Obj]] = {}
        for (ns, name), obj in items.items():
            by_ns.setdefault(ns, {})[name] = obj
        self._items, self._by_namespace = items, by_ns
        self._tombstones.clear()
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
        delay = self._min_delay
        while True:
            try:
                rv = await self._list()
                delay = self._min_delay
                await self._follow(rv)
            except k.Gone:
                log.info("%s: watch expired, relisting", self.name)
                continue
            except k.ClusterUnavailable as exc:
                self._fail(str(exc), connected=False)
            except k.KubeError as exc:
                # Reached the API server, which refused (a missing CRD, RBAC): retry, stay connected.
                self._fail(f"{exc.status} {exc.reason}: {exc.message}", connected=True, status=exc.status)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must not end the cache for good
                log.exception("%s: unexpected error in the watch loop", self.name)
                self._fail(repr(exc), connected=self.connected)
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, self._max_delay)

    def _fail(self, message: str, *, connected: bool | None, status: int | None = None) -> None:
        if message != self.last_error or connected != self.connected:
            log.warning("%s: %s", self.name, message)
        self.last_error = message
        self.last_status = status
        self.connected = connected
        self._attempted.set()

    async def _list(self) -> str | None:
        listing = await self.kube.list(
            self.resource, label_selector=self.label_selector, field_selector=self.field_selector
        )
        self._replace_all(listing.get("items") or [])
        self.connected = True
        self.synced = True
        self.last_error = None
        self.last_status = None
        self._attempted.set()
        rv = (listing.get("metadata") or {}).get("resourceVersion")
        return str(rv) if rv else None

    async def _follow(self, rv: str | None) -> None:
        """Follows watches from rv until one fails; a watch that times out normally is renewed."""
        while True:
            async for event in self.kube.watch(
                self.resource,
                resource_version=rv,
                label_selector=self.label_selector,
                field_selector=self.field_selector,
                timeout_seconds=self._watch_timeout,
            ):
                obj = event.get("object") or {}
                new_rv = (obj.get("metadata") or {}).get("resourceVersion")
                if new_rv:
                    rv = str(new_rv)
                kind = event.get("type")
                if kind in ("ADDED", "MODIFIED"):
                    self.upsert(obj)
                elif kind == "DELETED":
                    self._drop(key_of(obj), _rv(obj))
            self._prune_tombstones()

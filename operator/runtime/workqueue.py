"""A deduplicating, rate-limited work queue (the controller-runtime pattern, in asyncio).

Many signals (the object itself, its child, its pods, a resync) map to one key; the queue holds a
key at most once, never hands the same key to two workers at once, and re-queues a key that was
added again while it was being processed, so the latest state is always reconciled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(self) -> None:
        self._queue: asyncio.Queue[K] = asyncio.Queue()
        self._queued: set[K] = set()
        self._processing: set[K] = set()
        self._dirty: set[K] = set()
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._failures: dict[K, int] = {}

    def add(self, key: K) -> None:
        if key in self._processing:
            self._dirty.add(key)
            return
        if key in self._queued:
            return
        self._queued.add(key)
        self._queue.put_nowait(key)

    def add_after(self, key: K, delay: float) -> None:
        """Adds the key once `delay` seconds have passed (an earlier pending timer wins)."""
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        existing = self._timers.get(key)
        if existing is not None and existing.when() <= loop.time() + delay:
            return
        if existing is not None:
            existing.cancel()

        def fire() -> None:
            self._timers.pop(key, None)
            self.add(key)

        self._timers[key] = loop.call_later(delay, fire)

    def backoff(self, key: K, base: float = 1.0, cap: float = 120.0) -> float:
        """Requeues a failed key with exponential backoff; returns the delay."""
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        delay: float = min(cap, base * (2.0**n))
        self.add_after(key, delay)
        return float(delay)

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    def __len__(self) -> int:
        return len(self._queued)

    async def _get(self) -> K:
        key = await self._queue.get()
        self._queued.discard(key)
        self._processing.add(key)
        return key

    def _done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    async def run_workers(self, count: int, handle: Callable[[K], Awaitable[None]]) -> None:
        async def worker() -> None:
            while True:
                key = await self._get()
                try:
                    await handle(key)
                finally:
                    self._done(key)

        await asyncio.gather(*(worker() for _ in range(count)))

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

"""A keyed work queue in the client-go style, for asyncio.

- A key is never worked on by two workers at once; a key added while it is being worked on is
  worked on again afterwards (so no update is lost and no two reconciles race).
- Adding a key that is already waiting does nothing (bursts of events collapse into one run).
- Failures come back after an exponential backoff per key, reset by a success.
- A run that asks for no further look cancels a pending requeue of its key: it already saw
  the state that timer was waiting for.
Metrics use client-go's names (workqueue_depth, _adds_total, _queue_duration_seconds...).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from .metrics import (
    WORKQUEUE_ADDS,
    WORKQUEUE_DEPTH,
    WORKQUEUE_RETRIES,
    WORKQUEUE_WAIT,
    WORKQUEUE_WORK,
)

K = TypeVar("K", bound=Hashable)


@dataclass
class Backoff:
    base: float = 0.5
    cap: float = 60.0
    failures: dict[Hashable, int] = field(default_factory=dict)

    def next(self, key: Hashable) -> float:
        count = self.failures.get(key, 0)
        self.failures[key] = count + 1
        return float(min(self.cap, self.base * 2**count))

    def forget(self, key: Hashable) -> None:
        self.failures.pop(key, None)


class WorkQueue(Generic[K]):
    def __init__(self, backoff: Backoff | None = None, name: str = "reactivejob") -> None:
        self._ready: asyncio.Queue[K] = asyncio.Queue()
        self._queued: dict[K, float] = {}  # key -> when it was queued
        self._active: set[K] = set()
        self._dirty: set[K] = set()
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self.backoff = backoff or Backoff()
        self._depth = WORKQUEUE_DEPTH.labels(name)
        self._adds = WORKQUEUE_ADDS.labels(name)
        self._retries = WORKQUEUE_RETRIES.labels(name)
        self._wait = WORKQUEUE_WAIT.labels(name)
        self._work = WORKQUEUE_WORK.labels(name)

    def add(self, key: K) -> None:
        self._adds.inc()
        if key in self._active:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued[key] = time.monotonic()
            self._ready.put_nowait(key)
            self._depth.set(len(self._queued))

    def add_after(self, key: K, delay: float) -> None:
        """Add ``key`` after ``delay`` seconds; an earlier pending timer for it wins."""
        loop = asyncio.get_running_loop()
        existing = self._timers.get(key)
        if existing is not None and existing.when() <= loop.time() + delay:
            return
        if existing is not None:
            existing.cancel()
        self._timers[key] = loop.call_later(delay, self._fire, key)

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def __len__(self) -> int:
        return len(self._queued)

    async def run(
        self,
        handle: Callable[[K], Awaitable[float | None]],
        workers: int,
        *after: Callable[[], Awaitable[object]],
    ) -> None:
        """``workers`` workers, started once each of ``after`` is done, in order (the caches
        have listed, leadership is won), as controller-runtime's Start does: until then keys
        queue up, and none is held "active" by a worker that may not act."""
        for gate in after:
            await gate()
        await asyncio.gather(*(self.work(handle) for _ in range(workers)))

    async def work(self, handle: Callable[[K], Awaitable[float | None]]) -> None:
        """Worker loop: ``handle`` returns seconds until the key wants another look (or None);
        an exception retries it with backoff."""
        while True:
            key = await self._ready.get()
            started = time.monotonic()
            self._wait.observe(started - self._queued.pop(key, started))
            self._depth.set(len(self._queued))
            self._active.add(key)
            try:
                again = await handle(key)
            except asyncio.CancelledError:
                raise
            except Exception:
                self._retries.inc()
                self.add_after(key, self.backoff.next(key))
            else:
                self.backoff.forget(key)
                if again is not None:
                    self.add_after(key, again)
                elif (timer := self._timers.pop(key, None)) is not None:
                    timer.cancel()
            finally:
                self._work.observe(time.monotonic() - started)
                self._active.discard(key)
                if key in self._dirty:
                    self._dirty.discard(key)
                    self.add(key)

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        while not self._ready.empty():
            self._ready.get_nowait()

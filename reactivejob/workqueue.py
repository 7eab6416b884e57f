"""A keyed work queue in the client-go style, for asyncio.

- A key is never worked on by two workers at once; a key added while it is being worked on is
  worked on again afterwards (so no update is lost and no two reconciles race).
- Adding a key that is already waiting does nothing (bursts of events collapse into one run).
- Failures come back after an exponential backoff per key, reset by a success.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

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
    def __init__(self, backoff: Backoff | None = None) -> None:
        self._ready: asyncio.Queue[K] = asyncio.Queue()
        self._queued: set[K] = set()
        self._active: set[K] = set()
        self._dirty: set[K] = set()
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self.backoff = backoff or Backoff()

    def add(self, key: K) -> None:
        if key in self._active:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._ready.put_nowait(key)

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

    async def work(self, handle: Callable[[K], Awaitable[float | None]]) -> None:
        """Worker loop: ``handle`` returns seconds until the key wants another look (or None);
        an exception retries it with backoff."""
        while True:
            key = await self._ready.get()
            self._queued.discard(key)
            self._active.add(key)
            try:
                again = await handle(key)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.add_after(key, self.backoff.next(key))
            else:
                self.backoff.forget(key)
                if again is not None:
                    self.add_after(key, again)
            finally:
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

"""The work queue: one worker per key at a time, collapsed bursts, retries with backoff.

The tests wait on events the handler sets (with a generous timeout), never on fixed sleeps, so
a loaded machine makes them slower, not flaky.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from typing import Any

from reactivejob.engine.workqueue import Backoff, WorkQueue

TIMEOUT = 10.0


def run(coroutine: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coroutine)


async def settle() -> None:
    """Let every ready task run until it blocks (cooperative, so no wall clock involved)."""
    for _ in range(20):
        await asyncio.sleep(0)


def test_a_burst_of_adds_is_one_run_and_an_add_during_a_run_is_one_more() -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue()
        runs: list[str] = []
        gate, first, second = asyncio.Event(), asyncio.Event(), asyncio.Event()

        async def handle(key: str) -> None:
            runs.append(key)
            (first if len(runs) == 1 else second).set()
            if len(runs) == 1:
                await gate.wait()

        workers = [asyncio.create_task(queue.work(handle)) for _ in range(3)]
        for _ in range(5):
            queue.add("a")
        await asyncio.wait_for(first.wait(), TIMEOUT)
        await settle()
        assert runs == ["a"]  # five adds, one run; other workers may not take "a" meanwhile
        queue.add("a")
        queue.add("a")
        await settle()
        assert runs == ["a"]  # still not while the first run holds the key
        gate.set()
        await asyncio.wait_for(second.wait(), TIMEOUT)
        await settle()
        assert runs == ["a", "a"]  # the two adds during the run collapsed into one more
        for worker in workers:
            worker.cancel()

    run(scenario())


def test_failures_retry_with_growing_backoff_then_reset() -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue(Backoff(base=0.02, cap=1.0))
        attempts: list[float] = []
        succeeded = asyncio.Event()
        loop = asyncio.get_running_loop()

        async def handle(key: str) -> None:
            attempts.append(loop.time())
            if len(attempts) < 4:
                raise RuntimeError("409 Conflict")
            succeeded.set()

        worker = asyncio.create_task(queue.work(handle))
        queue.add("a")
        await asyncio.wait_for(succeeded.wait(), TIMEOUT)
        await settle()
        gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
        assert len(attempts) == 4
        assert gaps[0] >= 0.02 and gaps[1] >= 0.04 and gaps[2] >= 0.08  # lower bounds only
        assert queue.backoff.failures == {}  # success forgot the failures
        worker.cancel()

    run(scenario())


def test_requeue_after_brings_the_key_back() -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue()
        runs = 0
        third = asyncio.Event()

        async def handle(key: str) -> float | None:
            nonlocal runs
            runs += 1
            if runs == 3:
                third.set()
            return 0.05 if runs < 3 else None

        worker = asyncio.create_task(queue.work(handle))
        queue.add("a")
        await asyncio.wait_for(third.wait(), TIMEOUT)
        await asyncio.sleep(0.2)  # four requeue intervals: a wrong requeue would show by now
        assert runs == 3
        worker.cancel()

    run(scenario())


def test_workers_start_only_once_every_gate_is_open_in_order() -> None:
    """As controller-runtime's Start: keys queue up while the caches list and leadership is
    campaigned for, and no key is taken "active" before both."""

    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue()
        synced, leading = asyncio.Event(), asyncio.Event()
        handled: list[str] = []
        done = asyncio.Event()

        async def handle(key: str) -> None:
            handled.append(key)
            if len(handled) == 2:
                done.set()

        async def leadership() -> None:
            assert synced.is_set(), "leadership is awaited only after the caches synced"
            await leading.wait()

        runner = asyncio.create_task(queue.run(handle, 3, synced.wait, leadership))
        queue.add("a")
        queue.add("b")
        await settle()
        assert handled == [] and len(queue) == 2  # queued, none active
        synced.set()
        await settle()
        assert handled == []  # a follower: still waiting for leadership
        leading.set()
        await asyncio.wait_for(done.wait(), TIMEOUT)
        assert handled == ["a", "b"]  # in the order they were queued
        runner.cancel()

    run(scenario())

"""The work queue: one worker per key at a time, collapsed bursts, retries with backoff."""

from __future__ import annotations

import asyncio
import itertools

from reactivejob.workqueue import Backoff, WorkQueue


def run(coroutine: object) -> None:
    asyncio.run(coroutine)  # type: ignore[arg-type]


def test_a_burst_of_adds_is_one_run_and_an_add_during_a_run_is_one_more() -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue()
        runs: list[str] = []
        gate = asyncio.Event()

        async def handle(key: str) -> None:
            runs.append(key)
            if len(runs) == 1:
                await gate.wait()

        workers = [asyncio.create_task(queue.work(handle)) for _ in range(3)]
        for _ in range(5):
            queue.add("a")
        await asyncio.sleep(0.05)
        assert runs == ["a"]  # five adds, one run; other workers may not take "a" meanwhile
        queue.add("a")
        queue.add("a")
        gate.set()
        await asyncio.sleep(0.05)
        assert runs == ["a", "a"]
        for worker in workers:
            worker.cancel()

    run(scenario())


def test_failures_retry_with_growing_backoff_then_reset() -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue(Backoff(base=0.02, cap=1.0))
        attempts: list[float] = []
        loop = asyncio.get_running_loop()

        async def handle(key: str) -> None:
            attempts.append(loop.time())
            if len(attempts) < 4:
                raise RuntimeError("409 Conflict")

        worker = asyncio.create_task(queue.work(handle))
        queue.add("a")
        await asyncio.sleep(0.5)
        gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
        assert len(attempts) == 4
        assert gaps[0] >= 0.02 and gaps[1] >= 0.04 and gaps[2] >= 0.08
        assert queue.backoff.failures == {}  # success forgot the failures
        worker.cancel()

    run(scenario())


def test_requeue_after_brings_the_key_back() -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue()
        runs = 0

        async def handle(key: str) -> float | None:
            nonlocal runs
            runs += 1
            return 0.05 if runs < 3 else None

        worker = asyncio.create_task(queue.work(handle))
        queue.add("a")
        await asyncio.sleep(0.4)
        assert runs == 3
        worker.cancel()

    run(scenario())

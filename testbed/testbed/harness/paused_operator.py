"""``python -m testbed.harness.paused_operator run ...``: the operator, paused at one point.

For crash tests that must kill the operator at an exact step, not at a random instant. The
point is named by ``REACTIVEJOB_TEST_PAUSE_AT``, read here only (the operator never looks at
it). When a reconcile reaches the point, this logs ``PAUSED_MARK`` and holds that reconcile
forever, so the test waits for the mark and SIGKILLs the process there.

Points:
- ``after-job-create``: the Job was created, the ReactiveJob's status not yet written.
- ``slow-finalizer-write``: the first finalizer write waits half a second after its decision,
  so a concurrent writer surely changes the list meanwhile (the write must fail its JSON-patch
  test and be retried).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from reactivejob.engine.executor import Executor
from reactivejob.serve import cli
from reactivejob_api.models import Job

from .operator_process import PAUSE_ENV

AFTER_JOB_CREATE = "after-job-create"
SLOW_FINALIZER_WRITE = "slow-finalizer-write"
BEFORE_FINALIZER_ADD = "before-finalizer-add"
PAUSED_MARK = "test fault point reached, holding:"

log = logging.getLogger("reactivejob.test-fault")


def pause_after_job_create() -> None:
    create = Executor._create

    async def create_then_hold(self: Executor, job: Job, uid: str) -> str | None:
        refused = await create(self, job, uid)
        if refused is None:
            name = job.metadata.name if job.metadata else "?"
            log.warning("%s %s %s", PAUSED_MARK, AFTER_JOB_CREATE, name)
            await asyncio.Event().wait()
        return refused

    Executor._create = create_then_hold  # type: ignore[method-assign]


def delay_first_finalizer_write(seconds: float, point: str | None = None) -> None:
    """Only the first write is late: a retry must be able to win. With ``point``, the delay is
    announced, so a test can act in it."""
    write = Executor._set_finalizers

    delayed: list[bool] = []

    async def late(
        client: Any, namespace: str, name: str, seen: list[str] | None, finalizers: list[str]
    ) -> str | None:
        if not delayed:
            delayed.append(True)
            if point is not None:
                log.warning("%s %s %s/%s", PAUSED_MARK, point, namespace, name)
            await asyncio.sleep(seconds)
        return await write(client, namespace, name, seen, finalizers)

    Executor._set_finalizers = staticmethod(late)  # type: ignore[method-assign]


POINTS: dict[str, Callable[[], None]] = {
    AFTER_JOB_CREATE: pause_after_job_create,
    SLOW_FINALIZER_WRITE: lambda: delay_first_finalizer_write(0.5),
    BEFORE_FINALIZER_ADD: lambda: delay_first_finalizer_write(3.0, BEFORE_FINALIZER_ADD),
}


def main() -> int:
    point = os.environ.get(PAUSE_ENV, "")
    if point not in POINTS:
        print(f"{PAUSE_ENV}={point!r}: expected one of {sorted(POINTS)}", file=sys.stderr)
        return 2
    POINTS[point]()
    return cli.main()


if __name__ == "__main__":
    sys.exit(main())

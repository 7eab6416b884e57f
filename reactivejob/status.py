"""ReactiveJob status: Go-compatible state and Ready condition, plus kstatus's abnormal-true
conditions (Reconciling while a Job runs, Stalled when it failed) so that Flux and Helm read
InProgress, Failed and Current rightly; ``Ready=False`` alone reads as InProgress to kstatus."""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass

from reactivejob_api import ReactiveJobCondition, ReactiveJobStatus
from reactivejob_api.models import Job

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"


class State(enum.StrEnum):
    NEW = "New"
    PROCESSING = "Processing"
    DELETION_BLOCKED = "DeletionBlocked"
    DELETING = "Deleting"
    READY = "Ready"
    ERROR = "Error"


@dataclass(frozen=True)
class Outcome:
    """What the status should say, before timestamps are merged in."""

    state: State
    reason: str
    message: str
    current_job_name: str | None = None


def job_outcome(job: Job) -> Outcome:
    """The newest Job's state: finished (by its own condition) or still running."""
    name = job.metadata.name if job.metadata else None
    for condition in (job.status.conditions if job.status else None) or []:
        if condition.status != "True":
            continue
        if condition.type == "Failed":
            return Outcome(
                State.ERROR, condition.reason or "JobFailed", condition.message or "", name
            )
        if condition.type == "Complete":
            return Outcome(
                State.READY, condition.reason or "JobComplete", condition.message or "", name
            )
    return Outcome(State.PROCESSING, "JobRunning", f"waiting for job {name} to complete", name)


def build_status(
    previous: ReactiveJobStatus | None, generation: int, outcome: Outcome, now: datetime.datetime
) -> ReactiveJobStatus:
    """The full status for ``outcome``; timestamps move only when a condition really changes,
    so reconciling an unchanged object writes nothing."""
    old = {c.type: c for c in (previous.conditions if previous else None) or []}
    ready = {State.READY: "True", State.ERROR: "False"}.get(outcome.state, "Unknown")
    wanted = [(READY, ready)]
    if outcome.state in (State.PROCESSING, State.DELETING, State.NEW):
        wanted.append((RECONCILING, "True"))
    if outcome.state is State.ERROR:
        wanted.append((STALLED, "True"))
    conditions = [
        _condition(
            old.get(kind),
            kind,
            status=status,
            reason=outcome.reason,
            message=outcome.message,
            now=now,
        )
        for kind, status in wanted
    ]
    current = outcome.current_job_name or (previous.current_job_name if previous else None)
    status = ReactiveJobStatus(
        observed_generation=generation,
        state=outcome.state.value,
        conditions=conditions,
    )
    if current:
        status.current_job_name = current
    return status


def _condition(
    old: ReactiveJobCondition | None,
    kind: str,
    *,
    status: str,
    reason: str,
    message: str,
    now: datetime.datetime,
) -> ReactiveJobCondition:
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    unchanged = old is not None and (old.status, old.reason, old.message) == (
        status,
        reason,
        message,
    )
    transitioned = old is None or old.status != status
    return ReactiveJobCondition(
        type=kind,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=stamp
        if transitioned
        else (old.last_transition_time if old else stamp),
        last_update_time=(old.last_update_time if unchanged and old else stamp),
    )


def same_status(a: ReactiveJobStatus | None, b: ReactiveJobStatus) -> bool:
    if a is None:
        return False
    return bool(_dump(a) == _dump(b))


def _dump(status: ReactiveJobStatus) -> dict[str, object]:
    dumped: dict[str, object] = status.model_dump(by_alias=True, exclude_none=True, mode="json")
    return dumped

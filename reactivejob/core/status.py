"""ReactiveJob status: Go-compatible state and Ready condition, plus kstatus's abnormal-true
conditions (Reconciling while a Job runs, Stalled when it failed) so that Flux and Helm read
InProgress, Failed and Current rightly; ``Ready=False`` alone reads as InProgress to kstatus."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from reactivejob_api import ReactiveJobCondition, ReactiveJobRun, ReactiveJobStatus
from reactivejob_api.models import Job
from reactivejob_api.vocabulary import ConditionType, RunResult, State

from .objects import JobState, name_of, stamp

SUSPENDED_MESSAGE = "spec.suspend is true: no new Job is made; a held change runs on resume"


@dataclass(frozen=True)
class Outcome:
    """What the status should say, before timestamps are merged in."""

    state: State
    reason: str
    message: str
    current_job_name: str | None = None


def job_outcome(job: Job) -> Outcome:
    """The newest Job's state: finished (by its own condition) or still running."""
    name, state = name_of(job), JobState.of(job)
    if state.result is RunResult.FAILED:
        return Outcome(State.ERROR, state.reason or "JobFailed", state.message, name)
    if state.result is RunResult.SUCCEEDED:
        return Outcome(State.READY, state.reason or "JobComplete", state.message, name)
    return Outcome(State.PROCESSING, "JobRunning", f"waiting for job {name} to complete", name)


# Reconciling=True, which kstatus reads as InProgress: a Job runs, or will without anyone's help
# (Kueue admits a queued Job, and again an evicted one), or the ReactiveJob is being deleted.
_IN_PROGRESS = frozenset({State.PROCESSING, State.DELETING, State.QUEUED, State.EVICTED})


@dataclass(frozen=True)
class RunRecord:
    """What run control adds to a status; None keeps what the previous status had."""

    suspended: bool = False
    history: list[ReactiveJobRun] | None = None
    last_handled_rerun: str | None = None


def build_status(
    previous: ReactiveJobStatus | None,
    generation: int,
    outcome: Outcome,
    now: datetime.datetime,
    runs: RunRecord = RunRecord(),
) -> ReactiveJobStatus:
    """The full status for ``outcome``; timestamps move only when a condition really changes,
    so reconciling an unchanged object writes nothing.

    A held change (State.SUSPENDED) reads Ready=False with neither Reconciling nor Stalled:
    kstatus then says InProgress, never Failed; the Suspended condition says why."""
    old = {c.type: c for c in (previous.conditions if previous else None) or []}
    ready = {State.READY: "True", State.ERROR: "False", State.SUSPENDED: "False"}.get(
        outcome.state, "Unknown"
    )
    wanted = [(ConditionType.READY, ready, outcome.reason, outcome.message)]
    if outcome.state in _IN_PROGRESS:
        wanted.append((ConditionType.RECONCILING, "True", outcome.reason, outcome.message))
    if outcome.state is State.ERROR:
        wanted.append((ConditionType.STALLED, "True", outcome.reason, outcome.message))
    if runs.suspended:
        wanted.append((ConditionType.SUSPENDED, "True", "Suspended", SUSPENDED_MESSAGE))
    conditions = [
        _condition(old.get(kind), kind, status=status, reason=reason, message=message, now=now)
        for kind, status, reason, message in wanted
    ]
    current = outcome.current_job_name or (previous.current_job_name if previous else None)
    status = ReactiveJobStatus(
        observed_generation=generation,
        state=outcome.state.value,
        conditions=conditions,
    )
    if current:
        status.current_job_name = current
    handled = runs.last_handled_rerun or (previous.last_handled_rerun if previous else None)
    if handled:
        status.last_handled_rerun = handled
    history = runs.history if runs.history is not None else (previous.history if previous else None)
    if history:
        status.history = history
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
    at = stamp(now)
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
        last_transition_time=at if transitioned else (old.last_transition_time if old else at),
        last_update_time=(old.last_update_time if unchanged and old else at),
    )


def with_condition(
    status: ReactiveJobStatus,
    kind: str,
    found: tuple[str, str] | None,
    now: datetime.datetime,
    old: ReactiveJobCondition | None,
) -> ReactiveJobStatus:
    """``status`` with the condition ``kind`` True for ``found`` (reason, message), or without
    it for None; its timestamps move only when it really changes from ``old``."""
    others = [c for c in status.conditions or [] if c.type != kind]
    if found is not None:
        reason, message = found
        others.append(_condition(old, kind, status="True", reason=reason, message=message, now=now))
    return status.model_copy(update={"conditions": others})


def condition_of(status: ReactiveJobStatus | None, kind: str) -> ReactiveJobCondition | None:
    conditions = (status.conditions if status else None) or []
    return next((c for c in conditions if c.type == kind), None)


def same_status(a: ReactiveJobStatus | None, b: ReactiveJobStatus) -> bool:
    if a is None:
        return False
    return bool(_dump(a) == _dump(b))


def _dump(status: ReactiveJobStatus) -> dict[str, object]:
    dumped: dict[str, object] = status.model_dump(by_alias=True, exclude_none=True, mode="json")
    return dumped

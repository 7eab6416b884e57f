"""The reconcile decision: a pure function from (ReactiveJob, its Jobs) to a Plan.

Level-triggered: it looks only at what exists now, so it can be re-run at any point (after a
crash, a lost event, a takeover from the Go operator) and reaches the same decision.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from reactivejob_api import ReactiveJob, ReactiveJobStatus
from reactivejob_api.models import Job

from .desired import desired_job
from .naming import ANNOTATION_GENERATION, ANNOTATION_HASH, FINALIZER, GC_FINALIZERS, template_hash
from .status import STALLED, Outcome, State, build_status, job_outcome

REQUEUE_RUNNING = 30.0  # safety net; Job watch events normally arrive first
REQUEUE_DELETING = 5.0
REJECTED_RETRY = 300.0  # a rejected template is retried this often, not in a hot loop
REJECTED = "JobRejected"
DELETION_BLOCKED = Outcome(
    State.DELETION_BLOCKED, "DeletionBlocked", "Deletion blocked due to foreign finalizers"
)
DELETING = Outcome(State.DELETING, "Deleting", "waiting for deletion of dependent jobs")


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass(frozen=True)
class Plan:
    add_finalizer: bool = False
    create: Job | None = None
    release: tuple[str, ...] = ()  # Jobs whose protecting finalizer we remove
    delete: tuple[str, ...] = ()  # Jobs we delete (foreground)
    remove_finalizer: bool = False  # let the ReactiveJob go
    status: ReactiveJobStatus | None = None  # None: leave the status as it is
    events: tuple[Event, ...] = field(default=())
    requeue_after: float | None = None
    # A Job must be made, but the cache kept only the template's hash: read the object and
    # decide again with its template.
    fetch_template: bool = False


def decide(
    reactive_job: ReactiveJob,
    template: dict[str, Any] | None,
    jobs: Sequence[Job],
    now: datetime.datetime,
    *,
    digest: str | None = None,
) -> Plan:
    """What to do for ``reactive_job`` given its Jobs. ``template`` is its spec.jobTemplate as
    stored (None when only its hash, ``digest``, is known)."""
    meta = reactive_job.metadata
    assert meta is not None
    generation = meta.generation or 0
    ordered = sorted(jobs, key=_generation, reverse=True)  # newest first, as the Go operator
    protected = tuple(_name(j) for j in ordered if FINALIZER in (_meta(j).finalizers or []))
    previous = reactive_job.status

    def status(outcome: Outcome) -> ReactiveJobStatus:
        return build_status(previous, generation, outcome, now)

    if meta.deletion_timestamp:
        finalizers = meta.finalizers or []
        if FINALIZER not in finalizers:
            return Plan()
        if any(f != FINALIZER and f not in GC_FINALIZERS for f in finalizers):
            return Plan(status=status(DELETION_BLOCKED), requeue_after=REQUEUE_DELETING)
        if "orphan" in finalizers or not ordered:  # orphaning keeps the Jobs; else all are gone
            return Plan(release=protected, remove_finalizer=not protected)
        to_delete = tuple(_name(j) for j in ordered if not _meta(j).deletion_timestamp)
        return Plan(
            release=protected,
            delete=to_delete,
            status=status(DELETING),
            requeue_after=REQUEUE_DELETING,
        )

    if digest is None:
        assert template is not None, "decide() needs the template or its hash"
        digest = template_hash(template)
    guard = FINALIZER not in (meta.finalizers or [])  # set before any Job exists: no orphans
    if ordered and _is_current(ordered[0], digest, generation):
        newest = ordered[0]  # keeps its finalizer: TTL never removes the newest Job
        outcome = job_outcome(newest)
        running = outcome.state is State.PROCESSING
        return Plan(
            add_finalizer=guard,
            release=tuple(n for n in protected if n != _name(newest)),
            status=status(outcome),
            events=_finish_events(previous, outcome),
            requeue_after=REQUEUE_RUNNING if running else None,
        )
    wait = rejection_backoff(previous, generation, now)
    if wait is not None:  # the server refused this template lately; a spec change retries now
        return Plan(release=protected, requeue_after=wait)
    if template is None:
        return Plan(fetch_template=True)
    job = desired_job(reactive_job, template, digest)
    created = Outcome(State.PROCESSING, "JobCreated", "job created", _name(job))
    event = Event("Normal", "JobCreated", f"Created job {_name(job)} for generation {generation}")
    return Plan(
        add_finalizer=guard,
        create=job,
        release=protected,
        status=status(created),
        events=(event,),
        requeue_after=REQUEUE_RUNNING,
    )


def release_orphans(jobs: Sequence[Job]) -> Plan:
    """The ReactiveJob is gone (its finalizer was removed by hand): let go of the Jobs it left,
    so the garbage collector removes them through their owner reference."""
    return Plan(release=tuple(_name(j) for j in jobs if FINALIZER in (_meta(j).finalizers or [])))


def rejection_backoff(
    previous: ReactiveJobStatus | None, generation: int, now: datetime.datetime
) -> float | None:
    """Seconds until a template the server rejected for this generation is tried again."""
    if previous is None or previous.observed_generation != generation:
        return None
    for condition in previous.conditions or []:
        if (
            condition.type == STALLED
            and condition.reason == REJECTED
            and condition.last_transition_time
        ):
            since = now - datetime.datetime.fromisoformat(condition.last_transition_time)
            remaining = REJECTED_RETRY - since.total_seconds()
            return remaining if remaining > 0 else None
    return None


def _is_current(job: Job, digest: str, generation: int) -> bool:
    """Ours by hash; the Go operator's (its own hash) by the generation it was made for."""
    made_for_this_template = (_meta(job).annotations or {}).get(ANNOTATION_HASH) == digest
    return made_for_this_template or _generation(job) == generation


def _finish_events(previous: ReactiveJobStatus | None, outcome: Outcome) -> tuple[Event, ...]:
    """An event when the newest Job's outcome is new to the status (not on every reconcile)."""
    seen = previous is not None and (previous.state, previous.current_job_name) == (
        outcome.state.value,
        outcome.current_job_name,
    )
    if seen or outcome.state not in (State.READY, State.ERROR):
        return ()
    kind, verb = (
        ("Normal", "JobSucceeded") if outcome.state is State.READY else ("Warning", "JobFailed")
    )
    return (
        Event(kind, verb, f"Job {outcome.current_job_name}: {outcome.reason}: {outcome.message}"),
    )


def _meta(job: Job) -> Any:
    assert job.metadata is not None
    return job.metadata


def _name(job: Job) -> str:
    return str(_meta(job).name)


def _generation(job: Job) -> int:
    """The Go operator's sort key; a missing or garbled annotation sorts oldest."""
    try:
        return int((_meta(job).annotations or {}).get(ANNOTATION_GENERATION, ""))
    except ValueError:
        return -1

"""The reconcile decision: a pure function from (ReactiveJob, its Jobs) to a Plan.

Level-triggered: it looks only at what exists now, so it can be re-run at any point (after a
crash, a lost event, a takeover from the Go operator) and reaches the same decision.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reactivejob_api import ReactiveJob, ReactiveJobRun, ReactiveJobRunFailure, ReactiveJobStatus
from reactivejob_api.models import Job
from reactivejob_api.vocabulary import (
    ANNOTATION_CONFIG_HASH,
    ANNOTATION_HASH,
    FINALIZER,
    ConcurrencyPolicy,
    ConditionType,
    RunCause,
    RunResult,
    State,
)

from .config_refs import ConfigView
from .desired import desired_job
from .failure import describe
from .history import adopted_run, new_run, updated
from .kueue import NO_KUEUE, KueueView, queue_outcome
from .naming import GC_FINALIZERS, template_hash
from .objects import annotations_of, meta, name_of
from .ownership import Claims
from .runs import (
    RunControl,
    deleting,
    generation_of,
    is_held,
    may_run,
    newest_first,
    next_run_number,
    pruned,
    rerun_of,
)
from .status import (
    Outcome,
    RunRecord,
    build_status,
    condition_of,
    job_outcome,
    same_status,
    with_condition,
)

REQUEUE_RUNNING = 30.0  # safety net; Job watch events normally arrive first
REQUEUE_DELETING = 5.0
REJECTED_RETRY = 300.0  # a rejected template is retried this often, not in a hot loop
REJECTED = "JobRejected"
ADOPTED = "AdoptedJob"
CONTROLLED_ELSEWHERE = "ControlledElsewhere"
WAITING_FOR_CONFIG = "WaitingForConfig"
CONFIG_UNAVAILABLE = "ConfigUnavailable"
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
    delete: tuple[str, ...] = ()  # Jobs we delete (foreground: their Pods go first)
    prune: tuple[str, ...] = ()  # finished or never-started Jobs we delete (background)
    resume: str | None = None  # a held Job to unsuspend
    remove_finalizer: bool = False  # let the ReactiveJob go
    status: ReactiveJobStatus | None = None  # None: leave the status as it is
    events: tuple[Event, ...] = field(default=())
    requeue_after: float | None = None
    # The newest run was seen to finish by this decision: said once per run (the metric
    # runs_finished_total counts it), whatever the Event that tells it is called.
    finished: RunResult | None = None
    # A Job must be made, but the cache kept only the template's hash: read the object and
    # decide again with its template.
    fetch_template: bool = False
    adopt: tuple[str, ...] = ()  # Jobs with no controller (the Go operator's) to make ours
    # Runs seen to fail by this decision: list their Pods (once) and decide again with what
    # they say, before anything of the failure is written.
    diagnose: tuple[str, ...] = ()


def decide(
    reactive_job: ReactiveJob,
    template: dict[str, Any] | None,
    jobs: Sequence[Job],
    now: datetime.datetime,
    *,
    digest: str | None = None,
    config: ConfigView | None = None,
    refused: str | None = None,
    kueue: KueueView = NO_KUEUE,
    failures: Mapping[str, ReactiveJobRunFailure] | None = None,
) -> Plan:
    """What to do for ``reactive_job`` given its Jobs. ``template`` is its spec.jobTemplate as
    stored (None when only its hash, ``digest``, is known). ``config`` is what is known of the
    ConfigMaps and Secrets it references, when it opts in to config triggers. ``refused`` is
    the API server's answer when it refused the Job the last Plan created. ``kueue``: which
    Jobs Kueue queues, and what their Workloads say. ``failures``: what the Pods of the Jobs
    a Plan asked to ``diagnose`` said, by Job name.

    ``jobs`` are those labelled with its uid: which of them are its runs is decided here, by
    their controller reference (``Claims``)."""
    claims = Claims.of(reactive_job, jobs)
    plan = _decide(reactive_job, template, claims.runs, now, digest=digest, config=config,
                   refused=refused, kueue=kueue, failures=failures or {})  # fmt: skip
    return plan if plan.diagnose else _claimed(plan, reactive_job, claims, now)


def _decide(
    reactive_job: ReactiveJob,
    template: dict[str, Any] | None,
    jobs: Sequence[Job],
    now: datetime.datetime,
    *,
    digest: str | None,
    config: ConfigView | None,
    refused: str | None,
    kueue: KueueView,
    failures: Mapping[str, ReactiveJobRunFailure],
) -> Plan:
    own = meta(reactive_job)
    if digest is None:
        assert template is not None, "decide() needs the template or its hash"
        digest = template_hash(template)
    seen = Seen.of(reactive_job, jobs, digest, now, config, kueue=kueue, failures=failures)
    if own.deletion_timestamp:
        return _deleting(seen, own.finalizers or [])
    if refused is not None:
        return _rejected(seen, refused)
    if config is not None and config.problem is not None:  # a run's identity cannot be known
        return _noticed(seen, Outcome(State.ERROR, CONFIG_UNAVAILABLE, config.problem), "Warning")
    newest = seen.ordered[0] if seen.ordered else None
    if newest is not None and seen.is_current(newest):
        return _follow(seen, newest)  # the newest run exists
    if seen.control.suspend:  # a new run is due, and held until resumed
        held = Outcome(State.SUSPENDED, State.SUSPENDED, f"generation {seen.generation} is held: "
                       "spec.suspend is true")  # fmt: skip
        return _plan(seen, held, prune=pruned(seen.ordered, seen.control))
    wait = rejection_backoff(seen.previous, seen.generation, now)
    if wait is not None:  # the server refused this template lately; a spec change retries now
        return Plan(release=seen.protected, requeue_after=wait)
    if config is not None and config.missing:  # its Pods could not start: hold the run
        missing = ", ".join(r.describe() for r in config.missing)
        message = f"waiting for {missing}: not found, and not optional"
        return _noticed(seen, Outcome(State.PROCESSING, WAITING_FOR_CONFIG, message), "Warning")
    if template is None:
        return Plan(fetch_template=True)
    return _start(seen, template, newest)


def _claimed(plan: Plan, reactive_job: ReactiveJob, claims: Claims, now: datetime.datetime) -> Plan:
    """Adopt the Go operator's Jobs, and say which Jobs are ignored as another's: in the
    ForeignJobs condition, and in an Event whenever that list changes."""
    events = tuple(
        Event(
            "Normal",
            ADOPTED,
            f"adopted Job {name_of(job)}, which had no controller (made by "
            "the Go operator): this ReactiveJob is now its controller",
        )
        for job in claims.adoptable
    )
    foreign = claims.foreign_message()
    base = plan.status or reactive_job.status
    old = condition_of(reactive_job.status, ConditionType.FOREIGN_JOBS)
    if base is not None and (foreign is not None or old is not None):
        found = (CONTROLLED_ELSEWHERE, foreign) if foreign is not None else None
        status = with_condition(base, ConditionType.FOREIGN_JOBS, found, now, old)
        if foreign is not None and (old is None or old.message != foreign):
            events += (Event("Warning", CONTROLLED_ELSEWHERE, foreign),)
        if plan.status is not None or not same_status(base, status):
            plan = dataclasses.replace(plan, status=status)
    if not events and not claims.adoptable:
        return plan
    return dataclasses.replace(
        plan,
        adopt=tuple(name_of(job) for job in claims.adoptable),
        events=(*plan.events, *events),
    )


@dataclass(frozen=True)
class Seen:
    """What a decision is made from, read once from the ReactiveJob and its Jobs."""

    reactive_job: ReactiveJob
    generation: int
    digest: str
    now: datetime.datetime
    control: RunControl
    ordered: list[Job]  # newest first
    previous: ReactiveJobStatus | None
    history: list[ReactiveJobRun]
    pending_rerun: str | None  # requested and not yet handled
    config: ConfigView | None  # with config triggers only
    kueue: KueueView
    failures: Mapping[str, ReactiveJobRunFailure]  # what failed runs' Pods said, just read

    @classmethod
    def of(
        cls,
        reactive_job: ReactiveJob,
        jobs: Sequence[Job],
        digest: str,
        now: datetime.datetime,
        config: ConfigView | None,
        *,
        kueue: KueueView,
        failures: Mapping[str, ReactiveJobRunFailure],
    ) -> Seen:
        control = RunControl.of(reactive_job)
        previous = reactive_job.status
        handled = previous.last_handled_rerun if previous else None
        return cls(
            reactive_job=reactive_job,
            generation=meta(reactive_job).generation or 0,
            digest=digest,
            now=now,
            control=control,
            ordered=newest_first(jobs),
            previous=previous,
            history=(previous.history if previous else None) or [],
            pending_rerun=control.rerun if control.rerun != handled else None,
            config=config,
            kueue=kueue,
            failures=failures,
        )

    @functools.cached_property  # read by several steps of one decision: made once
    def protected(self) -> tuple[str, ...]:
        return tuple(n for n, j in self.by_name.items() if FINALIZER in (meta(j).finalizers or []))

    @functools.cached_property
    def by_name(self) -> dict[str, Job]:
        return {name_of(j): j for j in self.ordered}

    @property
    def guard(self) -> bool:  # our finalizer is set before any Job exists: no orphans
        return FINALIZER not in (meta(self.reactive_job).finalizers or [])

    def is_current(self, job: Job) -> bool:
        """Made for this template (ours by hash; the Go operator's by the generation it was made
        for, then by the hash its run was recorded with), and for the pending rerun, if any."""
        ours = annotations_of(job).get(ANNOTATION_HASH) == self.digest
        recorded = any(
            e.job_name == name_of(job) and e.template_hash == self.digest for e in self.history
        )
        this_template = ours or generation_of(job) == self.generation or recorded
        return (
            this_template
            and self.pending_rerun in (None, rerun_of(job))
            and (self.config is None or _config_matches(self.config, self.config_of(job)))
        )

    def failure_of(self, name: str) -> ReactiveJobRunFailure | None:
        """What a failed run's Pods said: just read, else as recorded in its history entry."""
        if name in self.failures:
            return self.failures[name]
        return next((e.failure for e in self.history if e.job_name == name), None)

    def config_of(self, job: Job) -> str | None:
        """The config hash a Job was made with: its annotation, else its run's record; None for
        a Job made before its ReactiveJob opted in (taken as made with today's config)."""
        annotated = annotations_of(job).get(ANNOTATION_CONFIG_HASH)
        if annotated is not None:
            return str(annotated)
        recorded = next((e for e in self.history if e.job_name == name_of(job)), None)
        return recorded.config_hash if recorded is not None else None


def _config_matches(view: ConfigView, config_hash: str | None) -> bool:
    """None: made before the object opted in, taken as made with today's config."""
    return config_hash is None or view.matches(config_hash)


def _follow(seen: Seen, newest: Job) -> Plan:
    """The newest run exists: report it, start it when it is held and may run now, and tidy."""
    control, name = seen.control, name_of(newest)
    prune = pruned(seen.ordered, control)
    outcome, resume = _said_why(seen, job_outcome(newest)), None
    if outcome.state is State.PROCESSING and seen.kueue.queued(newest):
        outcome = queue_outcome(newest, seen.kueue.workloads.get(name), outcome)
    replace: tuple[str, ...] = ()
    if is_held(newest) and control.suspend:
        outcome = Outcome(
            State.SUSPENDED, State.SUSPENDED, f"job {name} is held: spec.suspend is true", name
        )
    elif is_held(newest):
        blockers = _blockers(seen.ordered[1:], control)
        replace = _replaced(blockers, control)
        if blockers:
            outcome = _waiting(newest, blockers, control.policy)
        else:
            resume = name
    added = None if _recorded(seen, newest) else adopted_run(newest, seen.digest, seen.now)
    config = seen.config.hash if seen.config is not None else None
    adopt = config if config is not None and seen.config_of(newest) is None else None
    finished = _finished(seen.previous, outcome)
    events = (
        [Event("Normal", "JobStarted", f"Started job {name}: no older job is active")]
        if resume
        else []
    )
    return _plan(
        seen,
        outcome,
        added=added,
        prune=prune,
        replace=replace,
        resume=resume,
        handled=seen.pending_rerun,
        adopt_config=(name, adopt) if adopt is not None else None,
        events=(*events, *_finish_events(outcome, finished)),
        finished=finished,
    )


def _start(seen: Seen, template: dict[str, Any], newest: Job | None) -> Plan:
    """A new run: its Job, held while an older Job may still run (Forbid, Replace)."""
    control, pending = seen.control, seen.pending_rerun
    blockers = _blockers(seen.ordered, control)
    cause = _cause(seen, newest)
    config = seen.config.hash if seen.config is not None else None
    job = desired_job(
        seen.reactive_job,
        template,
        seen.digest,
        cause=cause,
        rerun=pending,
        config_hash=config,
        run=next_run_number(seen.ordered),
        hold=bool(blockers),
    )
    if blockers and seen.kueue.owns_no_suspend(job):  # it cannot be held: it is not made yet
        return _deferred(seen, job, blockers)
    if blockers:
        outcome = _waiting(job, blockers, control.policy)
    else:
        outcome = Outcome(State.PROCESSING, "JobCreated", "job created", name_of(job))
    rerun = f" (rerun {pending})" if pending else ""
    created = f"Created job {name_of(job)} for generation {seen.generation}{rerun}"
    queued = seen.kueue.queued(job)
    return _plan(
        seen,
        outcome,
        create=job,
        # Recorded once: a Job of this name may exist already (a rerun token used before).
        added=None if _recorded(seen, job) else new_run(job, cause, seen.now, queued=queued),
        prune=pruned([job, *seen.ordered], control),
        replace=_replaced(blockers, control),
        handled=pending,
        events=(Event("Normal", "JobCreated", created),),
    )


def _deferred(seen: Seen, job: Job, blockers: Sequence[Job]) -> Plan:
    """A run whose Job's ``spec.suspend`` is not ours to write (Kueue's, or another
    controller's) waits by not being made: made suspended, Kueue would start it on admission
    beside the older Job. Nothing of it is recorded until it is made; a rerun it is for stays
    pending."""
    control = seen.control
    older = ", ".join(name_of(j) for j in blockers)
    owner = "Kueue admits it" if seen.kueue.queued(job) else "spec.managedBy's controller runs it"
    message = (
        f"generation {seen.generation} waits for {older} to finish (concurrencyPolicy "
        f"{control.policy}); its job {name_of(job)} is made then, not held, as {owner}"
    )
    outcome = Outcome(State.PROCESSING, "WaitingForPreviousRun", message)
    return _plan(
        seen,
        outcome,
        prune=pruned(seen.ordered, control),
        replace=_replaced(blockers, control),
    )


def _plan(
    seen: Seen,
    outcome: Outcome,
    *,
    create: Job | None = None,
    added: ReactiveJobRun | None = None,
    prune: tuple[str, ...] = (),
    replace: tuple[str, ...] = (),
    resume: str | None = None,
    handled: str | None = None,
    adopt_config: tuple[str, str] | None = None,
    events: Sequence[Event] = (),
    finished: RunResult | None = None,
) -> Plan:
    """The Plan for a living ReactiveJob: the status with its history, and the events.
    ``adopt_config``: (job, config hash) to record for a Job made before the object opted in."""
    decided = dict.fromkeys((*prune, *replace), RunResult.CANCELLED)
    if resume is not None:
        decided[resume] = RunResult.RUNNING
    history = updated(seen.history, seen.by_name, seen.now, decided=decided, added=added,
                      failures=seen.failures)  # fmt: skip
    undiagnosed = _newly_failed(seen, history)
    if undiagnosed:
        return Plan(diagnose=undiagnosed)
    if adopt_config is not None:
        history = [
            e.model_copy(update={"config_hash": adopt_config[1]})
            if e.job_name == adopt_config[0]
            else e
            for e in history
        ]
    runs = RunRecord(suspended=seen.control.suspend, history=history, last_handled_rerun=handled)
    status = build_status(seen.previous, seen.generation, outcome, seen.now, runs)
    replaced = [
        Event("Normal", "JobReplaced", f"Deleting job {n}: concurrencyPolicy Replace")
        for n in replace
    ]
    refused = seen.control.invalid_rerun
    warnings = [Event("Warning", "RerunRefused", refused)] if refused else []
    settled = outcome.state in (State.READY, State.ERROR, State.SUSPENDED)
    return Plan(
        add_finalizer=seen.guard,
        create=create,
        release=_superseded(seen, create, replace),
        delete=replace,
        prune=prune,
        resume=resume,
        status=status,
        events=(*events, *replaced, *warnings),
        requeue_after=None if settled else REQUEUE_RUNNING,
        finished=finished,
    )


def _said_why(seen: Seen, outcome: Outcome) -> Outcome:
    """A failed run's outcome with what its Pods said, when they said anything."""
    if outcome.state is not State.ERROR or outcome.current_job_name is None:
        return outcome
    failure = seen.failure_of(outcome.current_job_name)
    said = describe(failure) if failure is not None else ""
    if not said:
        return outcome
    message = f"{outcome.message}: {said}" if outcome.message else said
    return dataclasses.replace(outcome, message=message)


def _newly_failed(seen: Seen, history: Sequence[ReactiveJobRun]) -> tuple[str, ...]:
    """Runs this decision records as failed whose Pods have not been read: each is read once,
    when its failure is first seen (a failure recorded earlier is never read again)."""
    before = {e.job_name: e.result for e in seen.history}
    return tuple(
        e.job_name
        for e in history
        if e.result == RunResult.FAILED
        and before.get(e.job_name) != RunResult.FAILED
        and e.job_name not in seen.failures
        and e.job_name in seen.by_name
    )


def _recorded(seen: Seen, job: Job) -> bool:
    return any(e.job_name == name_of(job) for e in seen.history)


def _superseded(seen: Seen, create: Job | None, replace: Sequence[str]) -> tuple[str, ...]:
    """The protected Jobs to release: all but the newest, which keeps its finalizer (so TTL
    never removes it) until a Job made now takes its place, or Replace deletes it (a run that
    waits by not being made, beside Kueue, deletes the newest Job before making the next)."""
    newest = name_of(seen.ordered[0]) if seen.ordered and create is None else None
    return tuple(n for n in seen.protected if n != newest or n in replace)


def _noticed(seen: Seen, outcome: Outcome, kind: str) -> Plan:
    """No new run for now, for a reason the status names, with an event when it is new."""
    current = seen.ordered[0] if seen.ordered else None
    if current is not None:
        outcome = dataclasses.replace(outcome, current_job_name=name_of(current))
    ready = condition_of(seen.previous, ConditionType.READY)
    fresh = ready is None or (ready.reason, ready.message) != (outcome.reason, outcome.message)
    events = (Event(kind, outcome.reason, outcome.message),) if fresh else ()
    return _plan(seen, outcome, prune=pruned(seen.ordered, seen.control), events=events)


def _deleting(seen: Seen, finalizers: list[str]) -> Plan:
    if FINALIZER not in finalizers:
        return Plan()

    def status(outcome: Outcome) -> ReactiveJobStatus:
        return build_status(seen.previous, seen.generation, outcome, seen.now)

    if any(f != FINALIZER and f not in GC_FINALIZERS for f in finalizers):
        return Plan(status=status(DELETION_BLOCKED), requeue_after=REQUEUE_DELETING)
    protected = seen.protected
    if "orphan" in finalizers or not seen.ordered:  # orphaning keeps the Jobs; else all are gone
        return Plan(release=protected, remove_finalizer=not protected)
    return Plan(
        release=protected,
        delete=tuple(name_of(j) for j in seen.ordered if not deleting(j)),
        status=status(DELETING),
        requeue_after=REQUEUE_DELETING,
    )


def _rejected(seen: Seen, message: str) -> Plan:
    """The server refused the Job: say so (once, with an Event), and try again only after
    REJECTED_RETRY or a change of the spec (see ``rejection_backoff``)."""
    outcome = Outcome(State.ERROR, REJECTED, message)
    status = build_status(seen.previous, seen.generation, outcome, seen.now)
    fresh = not same_status(seen.previous, status)
    events = (Event("Warning", REJECTED, message),) if fresh else ()
    return Plan(status=status, events=events, requeue_after=REJECTED_RETRY)


def still_current(decided_on: ReactiveJob, latest: ReactiveJob | None, job: Job) -> bool:
    """Whether ``job``, decided on from ``decided_on``, is still wanted now that the cache holds
    ``latest``: never make a Job for a run that a newer generation, or a newer rerun request,
    has already replaced (that change queues the object again)."""
    if latest is None:
        return True
    requested = RunControl.of(latest).rerun
    newer = (meta(latest).generation or 0) > (meta(decided_on).generation or 0)
    return not newer and requested in (rerun_of(job), RunControl.of(decided_on).rerun)


def release_orphans(jobs: Sequence[Job]) -> Plan:
    """The ReactiveJob is gone (its finalizer was removed by hand): let go of the Jobs it left,
    so the garbage collector removes them through their owner reference."""
    return Plan(release=tuple(name_of(j) for j in jobs if FINALIZER in (meta(j).finalizers or [])))


def rejection_backoff(
    previous: ReactiveJobStatus | None, generation: int, now: datetime.datetime
) -> float | None:
    """Seconds until a template the server rejected for this generation is tried again.

    Counted from Stalled's lastUpdateTime, which moves when its reason does: when Stalled was
    True already (the last run failed), its lastTransitionTime is older than the rejection."""
    stalled = condition_of(previous, ConditionType.STALLED)
    if previous is None or previous.observed_generation != generation or stalled is None:
        return None
    rejected_at = stalled.last_update_time or stalled.last_transition_time
    if stalled.reason != REJECTED or not rejected_at:
        return None
    since = now - datetime.datetime.fromisoformat(rejected_at)
    remaining = REJECTED_RETRY - since.total_seconds()
    return remaining if remaining > 0 else None


def _cause(seen: Seen, newest: Job | None) -> str:
    """Why a new run is made, judged against the last run (a Job, or only its record)."""
    last = seen.history[0] if seen.history else None
    if newest is not None:
        last_template: str | None = annotations_of(newest).get(ANNOTATION_HASH)
        last_config = seen.config_of(newest)
    else:
        last_template = last.template_hash if last else None
        last_config = last.config_hash if last else None
    if last_template is not None and last_template != seen.digest:
        return RunCause.TEMPLATE_CHANGED
    if seen.pending_rerun:
        return RunCause.RERUN
    config = seen.config.hash if seen.config is not None else None
    if last_config is not None and config is not None and last_config != config:
        return RunCause.CONFIG_CHANGED
    return RunCause.CREATED


def _blockers(older: Sequence[Job], control: RunControl) -> list[Job]:
    """The older Jobs a new run waits for: under Forbid or Replace, those whose Pods may run."""
    return [j for j in older if may_run(j)] if control.policy != ConcurrencyPolicy.ALLOW else []


def _replaced(blockers: Sequence[Job], control: RunControl) -> tuple[str, ...]:
    """Under Replace, the blockers to delete (once: a Job being deleted is waited for)."""
    if control.policy != ConcurrencyPolicy.REPLACE:
        return ()
    return tuple(name_of(j) for j in blockers if not deleting(j))


def _waiting(job: Job, blockers: Sequence[Job], policy: str) -> Outcome:
    older = ", ".join(name_of(j) for j in blockers)
    message = f"job {name_of(job)} waits for {older} to finish (concurrencyPolicy {policy})"
    return Outcome(State.PROCESSING, "WaitingForPreviousRun", message, name_of(job))


def _finished(previous: ReactiveJobStatus | None, outcome: Outcome) -> RunResult | None:
    """The newest Job's result when it is new to the status (once, not on every reconcile)."""
    seen = previous is not None and (previous.state, previous.current_job_name) == (
        outcome.state.value,
        outcome.current_job_name,
    )
    if seen or outcome.state not in (State.READY, State.ERROR):
        return None
    return RunResult.SUCCEEDED if outcome.state is State.READY else RunResult.FAILED


def _finish_events(outcome: Outcome, finished: RunResult | None) -> tuple[Event, ...]:
    if finished is None:
        return ()
    kind, verb = (
        ("Normal", "JobSucceeded") if finished is RunResult.SUCCEEDED else ("Warning", "JobFailed")
    )
    return (
        Event(kind, verb, f"Job {outcome.current_job_name}: {outcome.reason}: {outcome.message}"),
    )

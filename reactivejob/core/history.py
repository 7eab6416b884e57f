"""``status.history``: the last runs of a ReactiveJob, newest first, kept after their Jobs go.

An entry changes only when its run changes result, and its times are set once (start when it
first runs, completion when it finishes), so keeping history adds no status write of its own:
it rides on the writes the state changes make anyway.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence

from reactivejob_api import ReactiveJobRun, ReactiveJobRunFailure
from reactivejob_api.models import Job
from reactivejob_api.vocabulary import (
    ANNOTATION_CONFIG_HASH,
    ANNOTATION_HASH,
    ANNOTATION_RUN_CAUSE,
    RunCause,
    RunResult,
)

from .objects import JobState, annotations_of, name_of, stamp
from .runs import generation_of, is_held, rerun_of

MAX_HISTORY = 10
# Looked up once: on Python 3.11 an enum member costs about ten name lookups, and these are
# asked of every entry in every decision.
_OPEN = frozenset({RunResult.WAITING, RunResult.RUNNING})
_DONE = frozenset({RunResult.SUCCEEDED, RunResult.FAILED})


def new_run(
    job: Job, cause: str, now: datetime.datetime, *, queued: bool = False
) -> ReactiveJobRun:
    """The entry for a Job the operator creates (or finds made but not yet recorded).
    ``queued``: Kueue will create it suspended, until it is admitted."""
    noted = annotations_of(job)
    waiting = queued or is_held(job) or bool(job.spec and job.spec.suspend)
    return ReactiveJobRun(
        job_name=name_of(job),
        generation=generation_of(job),
        template_hash=noted.get(ANNOTATION_HASH, ""),
        cause=noted.get(ANNOTATION_RUN_CAUSE, cause),
        rerun=rerun_of(job),
        config_hash=noted.get(ANNOTATION_CONFIG_HASH),
        start_time=None if waiting else stamp(now),
        result=RunResult.WAITING if waiting else RunResult.RUNNING,
    )


def adopted_run(job: Job, digest: str, now: datetime.datetime) -> ReactiveJobRun:
    """The entry for the current Job when the history lacks it: ours, made just before a crash
    (its annotations say why), or one made before run control (by the Go operator, or by us
    before this version), recorded with the hash of the template it is current for."""
    noted = annotations_of(job)
    if ANNOTATION_RUN_CAUSE in noted:
        return new_run(job, noted[ANNOTATION_RUN_CAUSE], now)
    cause = RunCause.CREATED if generation_of(job) <= 1 else RunCause.TEMPLATE_CHANGED
    entry = new_run(job, cause, now)
    return entry.model_copy(update={"template_hash": digest, "start_time": _started(job)})


def updated(
    history: Sequence[ReactiveJobRun],
    jobs: Mapping[str, Job],
    now: datetime.datetime,
    *,
    decided: Mapping[str, str] | None = None,
    added: ReactiveJobRun | None = None,
    failures: Mapping[str, ReactiveJobRunFailure] | None = None,
) -> list[ReactiveJobRun]:
    """``history`` with ``added`` in front, each unfinished entry brought up to date with its
    Job, if it still exists; ``decided`` holds the results this reconcile brings about (a Job
    resumed now runs, one deleted now is cancelled); ``failures``, what the Pods of runs that
    fail now said. Capped at MAX_HISTORY."""
    entries = [added, *history] if added is not None else list(history)
    return [
        _brought_up_to_date(e, jobs, decided or {}, failures or {}, now)
        for e in entries[:MAX_HISTORY]
    ]


def _brought_up_to_date(
    entry: ReactiveJobRun,
    jobs: Mapping[str, Job],
    decided: Mapping[str, str],
    failures: Mapping[str, ReactiveJobRunFailure],
    now: datetime.datetime,
) -> ReactiveJobRun:
    if entry.result not in _OPEN:
        return entry  # finished: final
    job = jobs.get(entry.job_name)
    state = JobState.of(job) if job is not None else None  # read once: result, words, times
    observed = _observed(job, state) if job is not None and state is not None else None
    if observed not in _DONE:  # what happened wins over what was decided
        observed = decided.get(entry.job_name) or observed
    result = observed
    if result is None or result == entry.result:
        return entry  # unchanged, or its Job is gone: as last seen
    update: dict[str, object] = {"result": result}
    if result not in (RunResult.CANCELLED, RunResult.WAITING) and not entry.start_time:
        update["start_time"] = (_started(job) if job is not None else None) or stamp(now)
    if result not in (RunResult.RUNNING, RunResult.WAITING):
        update["completion_time"] = (state.finished_at if state else None) or stamp(now)
        if state is not None and state.result is not None:  # the Job controller's words
            update |= {k: v for k, v in (("reason", state.reason), ("message", state.message)) if v}
        failure = failures.get(entry.job_name)
        if result == RunResult.FAILED and failure is not None and failure.pod:
            update["failure"] = failure
    return entry.model_copy(update=update)


def _observed(job: Job, state: JobState) -> str:
    """Its result as soon as it is decided (see ``JobState``), else whether it runs."""
    return state.result or (
        RunResult.WAITING if job.spec and job.spec.suspend else RunResult.RUNNING
    )


def _started(job: Job) -> str | None:
    started = job.status.start_time if job.status else None
    return str(started) if started else None

"""Run control: what the spec asks of runs, and what each Job of a ReactiveJob is doing.

Pure reads of a ReactiveJob and its Jobs, for ``decide``. The names follow CronJob's
(concurrencyPolicy, suspend, successfulJobsHistoryLimit, failedJobsHistoryLimit); unlike
CronJob, no run is ever skipped: the newest template always runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reactivejob_api import ReactiveJob
from reactivejob_api.models import Job
from reactivejob_api.vocabulary import (
    ANNOTATION_GENERATION,
    ANNOTATION_HELD,
    ANNOTATION_RERUN,
    ANNOTATION_RUN,
    ConcurrencyPolicy,
    RunResult,
)

from .naming import RERUN_TOKEN_MAX
from .objects import annotations_of, meta, name_of, result_of


@dataclass(frozen=True)
class RunControl:
    policy: str  # a ConcurrencyPolicy; the CRD admits no other value
    suspend: bool
    successful_limit: int | None
    failed_limit: int | None
    rerun: str | None  # the requested token; None when absent, empty or invalid
    invalid_rerun: str | None  # why the requested token is ignored

    @classmethod
    def of(cls, reactive_job: ReactiveJob) -> RunControl:
        spec = reactive_job.spec
        token = annotations_of(reactive_job).get(ANNOTATION_RERUN) or None
        invalid = rerun_token_problem(token)
        return cls(
            policy=(spec.concurrency_policy if spec else None) or ConcurrencyPolicy.ALLOW,
            suspend=bool(spec.suspend if spec else False),
            successful_limit=spec.successful_jobs_history_limit if spec else None,
            failed_limit=spec.failed_jobs_history_limit if spec else None,
            rerun=None if invalid else token,
            invalid_rerun=invalid,
        )

    def limit(self, result: RunResult) -> int | None:
        return self.successful_limit if result is RunResult.SUCCEEDED else self.failed_limit


def rerun_token_problem(token: str | None) -> str | None:
    """Why a rerun token cannot be used (the webhook refuses the same), else None."""
    if token is not None and len(token) > RERUN_TOKEN_MAX:
        return (
            f"metadata.annotations[{ANNOTATION_RERUN}]: must be at most {RERUN_TOKEN_MAX} "
            f"characters, not {len(token)}"
        )
    return None


def newest_first(jobs: Sequence[Job]) -> list[Job]:
    """By run number (every Job the operator makes carries one: one more than the highest of
    the Jobs that exist), then by the generation each was made for, the Go operator's order,
    for Jobs made before run numbers; then by creation time."""
    return sorted(
        jobs,
        key=lambda job: (
            run_number_of(job),
            generation_of(job),
            str(meta(job).creation_timestamp or ""),
            name_of(job),
        ),
        reverse=True,
    )


def next_run_number(jobs: Sequence[Job]) -> int:
    return max((run_number_of(j) for j in jobs), default=0) + 1


def run_number_of(job: Job) -> int:
    try:
        return int(annotations_of(job).get(ANNOTATION_RUN, ""))
    except ValueError:
        return -1  # made before run numbers: older than any that has one


def is_held(job: Job) -> bool:
    """Created suspended by the operator and not resumed yet."""
    return bool(job.spec and job.spec.suspend) and ANNOTATION_HELD in annotations_of(job)


def may_run(job: Job) -> bool:
    """Its Pods run, or may: not finished, and not one the operator holds back (made suspended
    by it, never started). A Job suspended by anyone else (a user, Kueue's preemption) counts:
    whoever suspended it may resume it at any moment, and two runs would then overlap. An
    unfinished Job being deleted counts until it is gone (foreground deletion waits for its
    Pods). Whatever else it says, a Job whose Pods are still terminating counts until they
    have stopped (``status.terminating``, kept by the job controller since 1.34)."""
    status = job.status
    if status is not None and status.terminating:
        return True
    if result_of(job) is not None:
        return False
    return bool(status and status.active) or not is_held(job)


def deleting(job: Job) -> bool:
    return meta(job).deletion_timestamp is not None


def pruned(ordered: Sequence[Job], control: RunControl) -> tuple[str, ...]:
    """Jobs to delete of ``ordered`` (newest first; the newest is never deleted): those beyond
    the history limits, and superseded Jobs that were held and never started (their template
    will not run: a newer one has replaced it)."""
    if not ordered:
        return ()
    newest, superseded = ordered[0], ordered[1:]
    finished = [j for j in ordered if result_of(j) is not None]
    doomed = [*(j for j in superseded if is_held(j)), *beyond_history_limits(finished, control)]
    names = (name_of(j) for j in doomed if j is not newest and not deleting(j))
    return tuple(dict.fromkeys(names))


def beyond_history_limits(finished: Sequence[Job], control: RunControl) -> list[Job]:
    """Finished Jobs (newest first) that the history limits no longer keep: CronJob's count,
    the newest Job of each result included."""
    beyond: list[Job] = []
    for result in (RunResult.SUCCEEDED, RunResult.FAILED):
        limit = control.limit(result)
        if limit is not None:
            beyond.extend([j for j in finished if result_of(j) == result][limit:])
    return beyond


def rerun_of(job: Job) -> str | None:
    return annotations_of(job).get(ANNOTATION_RERUN)


def generation_of(job: Job) -> int:
    """The Go operator's sort key; a missing or garbled annotation sorts oldest."""
    try:
        return int(annotations_of(job).get(ANNOTATION_GENERATION, ""))
    except ValueError:
        return -1

"""Typed reads of the objects decisions are made from: metadata, a Job's state, and the one way
a time is written on the wire."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from reactivejob_api import ReactiveJob
from reactivejob_api.models import Job, JobCondition, ObjectMeta
from reactivejob_api.vocabulary import RunResult


def meta(obj: Job | ReactiveJob) -> ObjectMeta:
    """Its metadata: every object the server sends has one, so a missing one is a bug."""
    assert obj.metadata is not None, "an object without metadata"
    return obj.metadata


# These two run many times per decision: one attribute read each, no call of meta().
def annotations_of(obj: Job | ReactiveJob) -> dict[str, str]:
    return (obj.metadata.annotations if obj.metadata else None) or {}


def name_of(obj: Job | ReactiveJob) -> str:
    assert obj.metadata is not None, "an object without metadata"
    return str(obj.metadata.name)


def stamp(moment: datetime.datetime, *, micro: bool = False) -> str:
    """RFC 3339 in UTC as the API server writes it: whole seconds for metav1.Time (conditions,
    history), microseconds for metav1.MicroTime (Events, Leases)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class JobState:
    """What a Job's conditions say, read in this one place: its result once it is decided, with
    that condition's reason and message, and when.

    Since Kubernetes 1.31 a Job says SuccessCriteriaMet or FailureTarget as soon as its result
    is decided, and Complete or Failed only once every Pod has ended. The result is taken from
    the first (the run's record says it at once); run control asks ``result_of``, which waits
    for the second, because until then the Job's Pods may still run."""

    result: RunResult | None
    reason: str = ""
    message: str = ""
    finished_at: str | None = None

    @classmethod
    def of(cls, job: Job) -> JobState:
        condition = _finished(job, _DECIDED)
        if condition is None:
            return cls(None)
        status = job.status
        at = (status.completion_time if status else None) or condition.last_transition_time
        message = condition.message or ""
        failed = status.failed_indexes if status else None
        if failed:  # backoffLimitPerIndex: which indexes, not only that some did
            message = (
                f"{message} (failed indexes: {failed})" if message else f"failed indexes: {failed}"
            )
        return cls(
            _DECIDED[str(condition.type)], condition.reason or "", message, str(at) if at else None
        )


def result_of(job: Job) -> RunResult | None:
    """Succeeded or Failed once the Job has finished and its Pods have ended (Complete or
    Failed), else None: run control asks it of every Job several times per decision."""
    condition = _finished(job, _FINISHED)
    if condition is None:
        return None
    return _FINISHED[str(condition.type)]


_FINISHED = {"Complete": RunResult.SUCCEEDED, "Failed": RunResult.FAILED}  # by condition type
_DECIDED = {
    **_FINISHED,
    "SuccessCriteriaMet": RunResult.SUCCEEDED,
    "FailureTarget": RunResult.FAILED,
}


def _finished(job: Job, kinds: dict[str, RunResult]) -> JobCondition | None:
    """The first True condition of ``kinds``; Complete and Failed win over the early ones
    (they come last, and carry the same reason)."""
    early = None
    for condition in (job.status.conditions if job.status else None) or []:
        if condition.status == "True" and condition.type in kinds:
            if condition.type in _FINISHED:
                return condition
            early = early or condition
    return early

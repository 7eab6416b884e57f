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
    """What a Job's conditions say, read in this one place: its result once it has finished
    (Complete or Failed is True), with that condition's reason and message, and when."""

    result: RunResult | None
    reason: str = ""
    message: str = ""
    finished_at: str | None = None

    @classmethod
    def of(cls, job: Job) -> JobState:
        condition = _finished(job)
        if condition is None:
            return cls(None)
        at = (job.status.completion_time if job.status else None) or condition.last_transition_time
        result = _RESULTS[str(condition.type)]
        return cls(result, condition.reason or "", condition.message or "", str(at) if at else None)


def result_of(job: Job) -> RunResult | None:
    """Succeeded or Failed once the Job has finished, else None: ``JobState.of(job).result``,
    without the rest, as run control asks it of every Job several times per decision."""
    condition = _finished(job)
    if condition is None:
        return None
    return _RESULTS[str(condition.type)]


_RESULTS = {"Complete": RunResult.SUCCEEDED, "Failed": RunResult.FAILED}  # by condition type


def _finished(job: Job) -> JobCondition | None:
    for condition in (job.status.conditions if job.status else None) or []:
        if condition.status == "True" and condition.type in _RESULTS:
            return condition
    return None

"""What a user reads of ``decide()``: the status it writes (state, conditions, their reasons,
messages and timestamps), the events it sends and when it looks again. Each expectation comes
from the contract (Go-operator compatibility, Kubernetes conventions, the README), not from
running the code; no cluster, no mocks."""

from __future__ import annotations

import datetime

import pytest

from reactivejob.core.decide import Event, decide
from reactivejob.core.status import same_status
from reactivejob_api import ReactiveJobStatus
from reactivejob_api.vocabulary import ConditionType
from tests.unit.builders import (
    NOW,
    NOW_WIRE,
    TEMPLATE,
    by_type,
    conditions,
    decided,
    job,
    rj,
    true,
)


@pytest.mark.parametrize(
    ("job_conditions", "state", "ready", "extra", "event"),
    [
        ((), "Processing", "Unknown", {ConditionType.RECONCILING: "True"}, None),
        (("SuccessCriteriaMet", "Complete"), "Ready", "True", {}, "JobSucceeded"),
        (
            ("FailureTarget", "Failed"),
            "Error",
            "False",
            {ConditionType.STALLED: "True"},
            "JobFailed",
        ),
    ],
)
def test_status_mirrors_the_newest_job(
    job_conditions: tuple[str, ...],
    state: str,
    ready: str,
    extra: dict[str, str],
    event: str | None,
) -> None:
    obj = rj()
    newest = job(
        "migrate-abcde", 1, conditions=[true(c, f"{c}Reason", "m") for c in job_conditions]
    )
    plan = decided(obj, TEMPLATE, [newest], NOW)
    assert plan.create is None
    assert plan.status is not None
    assert plan.status.state == state
    assert conditions(plan) == {"Ready": ready, **extra}
    assert [e.reason for e in plan.events] == ([event] if event else [])
    if job_conditions:
        ready_condition = plan.status.conditions[0]  # type: ignore[index]
        assert ready_condition.reason == f"{job_conditions[-1]}Reason"
        # Once the status says so, the same inputs give the same status and no new event.
        obj.status = plan.status
        again = decided(obj, TEMPLATE, [newest], NOW + datetime.timedelta(minutes=1))
        assert again.status == plan.status
        assert again.events == ()


def test_a_created_job_is_reported_in_status_and_as_a_normal_event() -> None:
    plan = decide(rj(), TEMPLATE, [], NOW)
    assert plan.status is not None
    assert plan.status.current_job_name == "migrate-87phg"
    stamped = {"lastTransitionTime": NOW_WIRE, "lastUpdateTime": NOW_WIRE}
    created = {"reason": "JobCreated", "message": "job created", **stamped}
    assert by_type(plan.status) == {
        ConditionType.READY: {"status": "Unknown", **created},
        ConditionType.RECONCILING: {"status": "True", **created},
    }
    assert plan.events == (
        Event("Normal", "JobCreated", "Created job migrate-87phg for generation 1"),
    )


def test_a_running_job_is_reported_as_waiting_for_it() -> None:
    plan = decide(rj(), TEMPLATE, [job("migrate-87phg", 1)], NOW)
    assert plan.status is not None
    assert plan.status.state == "Processing"
    assert plan.status.current_job_name == "migrate-87phg"
    for condition in by_type(plan.status).values():
        assert (condition["reason"], condition["message"]) == (
            "JobRunning",
            "waiting for job migrate-87phg to complete",
        )
    assert plan.events == ()


def test_a_job_the_job_controller_has_not_touched_yet_is_running() -> None:
    fresh = job("migrate-87phg", 1, conditions=None)
    assert fresh.status is None
    plan = decide(rj(), TEMPLATE, [fresh], NOW)
    assert plan.status is not None and plan.status.state == "Processing"


@pytest.mark.parametrize(
    ("finished", "state", "expected", "event"),
    [
        (
            true("Complete", "CompletionsReached", "Reached expected number of succeeded pods"),
            "Ready",
            {ConditionType.READY: "True"},
            Event(
                "Normal",
                "JobSucceeded",
                "Job migrate-87phg: CompletionsReached: Reached expected number of succeeded pods",
            ),
        ),
        (
            true("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
            "Error",
            {ConditionType.READY: "False", ConditionType.STALLED: "True"},
            Event(
                "Warning",
                "JobFailed",
                "Job migrate-87phg: BackoffLimitExceeded: "
                "Job has reached the specified backoff limit",
            ),
        ),
    ],
)
def test_a_finished_job_passes_its_reason_and_message_on(
    finished: dict[str, str], state: str, expected: dict[str, str], event: Event
) -> None:
    # The previous status named an older Job: the finished newest one takes its place.
    obj = rj(status={"state": "Ready", "currentJobName": "migrate-older"})
    # Conditions that are not True (a resumed Job's Suspended=False) are passed over.
    resumed = {"type": "Suspended", "status": "False", "reason": "JobResumed"}
    newest = job("migrate-87phg", 1, conditions=[resumed, finished])
    plan = decided(obj, TEMPLATE, [newest], NOW)
    assert plan.status is not None
    assert (plan.status.state, plan.status.current_job_name) == (state, "migrate-87phg")
    got = by_type(plan.status)
    assert {kind: c["status"] for kind, c in got.items()} == expected
    for condition in got.values():
        assert (condition["reason"], condition["message"]) == (
            finished["reason"],
            finished["message"],
        )
    assert plan.events == (event,)


@pytest.mark.parametrize(("kind", "reason"), [("Complete", "JobComplete"), ("Failed", "JobFailed")])
def test_a_finished_job_without_reason_or_message_gets_a_default_reason(
    kind: str, reason: str
) -> None:
    newest = job("migrate-87phg", 1, conditions=[true(kind)])
    plan = decided(rj(), TEMPLATE, [newest], NOW)
    for condition in by_type(plan.status).values():
        assert (condition["reason"], condition["message"]) == (reason, "")


def test_timestamps_follow_kubernetes_condition_conventions() -> None:
    obj = rj()
    created = decide(obj, TEMPLATE, [], NOW)
    t1, t2 = NOW + datetime.timedelta(minutes=1), NOW + datetime.timedelta(minutes=2)
    t1_wire, t2_wire = "2026-11-26T12:01:00Z", "2026-11-26T12:02:00Z"

    # Same status, new reason: only lastUpdateTime moves.
    obj.status = created.status
    running = decide(obj, TEMPLATE, [job("migrate-87phg", 1)], t1)
    for condition in by_type(running.status).values():
        assert condition["lastTransitionTime"] == NOW_WIRE
        assert condition["lastUpdateTime"] == t1_wire

    # A new status: both move.
    obj.status = running.status
    done_job = job("migrate-87phg", 1, conditions=[true("Complete", "R")])
    done = decided(obj, TEMPLATE, [done_job], t2)
    assert by_type(done.status)[ConditionType.READY]["lastTransitionTime"] == t2_wire
    assert by_type(done.status)[ConditionType.READY]["lastUpdateTime"] == t2_wire


def test_same_status_compares_what_would_be_written() -> None:
    obj = rj()
    written = decide(obj, TEMPLATE, [], NOW).status
    assert written is not None
    again = ReactiveJobStatus.model_validate(written.model_dump(by_alias=True, mode="json"))
    assert same_status(again, written)
    # Nothing stored yet: the first status is always written.
    assert not same_status(None, written)
    moved = decide(obj, TEMPLATE, [], NOW + datetime.timedelta(seconds=1)).status
    assert moved is not None
    assert not same_status(written, moved)


# --- when to look again ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("job_conditions", "requeue"),
    [
        # Safety net while the Job runs; watch events normally arrive first.
        ([], 30.0),
        # Finished: nothing will change until the Job or the ReactiveJob does.
        ([true("Complete", "R")], None),
        ([true("Failed", "R")], None),
    ],
)
def test_only_a_running_job_is_rechecked(
    job_conditions: list[dict[str, str]], requeue: float | None
) -> None:
    newest = job("migrate-87phg", 1, conditions=job_conditions)
    assert decide(rj(), TEMPLATE, [newest], NOW).requeue_after == requeue


def test_a_new_job_is_rechecked() -> None:
    assert decide(rj(), TEMPLATE, [], NOW).requeue_after == 30.0

"""Why a run failed: decide() asks for a failed run's Pods once, when it first sees the
failure, and says what they said in the Ready/Stalled message, the history and the JobFailed
Event. Never for a run that succeeded, and never again once the failure is recorded."""

from __future__ import annotations

from typing import Any

from reactivejob.core.decide import decide
from reactivejob.core.failure import NOTHING_FOUND
from reactivejob_api import ReactiveJobRunFailure, ReactiveJobStatus
from reactivejob_api.models import Job
from reactivejob_api.vocabulary import ANNOTATION_HASH
from tests.unit.builders import DIGEST, NOW, OLD, TEMPLATE, by_type, decided, history, job, rj, true

LIMIT = "Job has reached the specified backoff limit"
SAID = ReactiveJobRunFailure(
    pod="migrate-abcde-x7k2p",
    container="migrate",
    exit_code=3,
    reason="Error",
    message='relation "accounts" does not exist',
)
WHY = (
    f"{LIMIT}: container migrate of pod migrate-abcde-x7k2p exited with code 3 (Error): "
    'relation "accounts" does not exist'
)


def wire(status: ReactiveJobStatus | None) -> dict[str, Any]:
    assert status is not None
    written: dict[str, Any] = status.model_dump(by_alias=True, exclude_none=True, mode="json")
    return written


def failed_job(name: str = "migrate-abcde", generation: int = 1) -> Job:
    return job(name, generation, conditions=[true("Failed", "BackoffLimitExceeded", LIMIT)])


def test_a_run_first_seen_failed_asks_for_its_pods_and_writes_nothing_yet() -> None:
    plan = decide(rj(1), TEMPLATE, [failed_job()], NOW)
    assert plan.diagnose == ("migrate-abcde",)
    assert plan.status is None and plan.events == () and plan.finished is None
    assert plan.create is None and plan.release == () and plan.prune == ()


def test_what_the_pods_said_reaches_the_conditions_the_history_and_the_event() -> None:
    plan = decided(rj(1), TEMPLATE, [failed_job()], NOW, pods_say={"migrate-abcde": SAID})
    conditions = by_type(plan.status)
    assert conditions["Ready"]["message"] == WHY and conditions["Stalled"]["message"] == WHY
    entry = history(plan)[0]
    assert entry["result"] == "Failed" and entry["reason"] == "BackoffLimitExceeded"
    assert entry["message"] == LIMIT  # the Job's own words stay apart from the Pod's
    assert entry["failure"] == {
        "pod": "migrate-abcde-x7k2p",
        "container": "migrate",
        "exitCode": 3,
        "reason": "Error",
        "message": 'relation "accounts" does not exist',
    }
    (event,) = plan.events
    assert (event.type, event.reason) == ("Warning", "JobFailed")
    assert event.message == f"Job migrate-abcde: BackoffLimitExceeded: {WHY}"


def test_a_recorded_failure_is_never_read_again_and_its_words_stay() -> None:
    first = decided(rj(1), TEMPLATE, [failed_job()], NOW, pods_say={"migrate-abcde": SAID})
    assert first.status is not None
    again = decide(rj(1, status=wire(first.status)), TEMPLATE, [failed_job()], NOW)
    assert again.diagnose == ()
    assert again.status == first.status  # nothing to write: the message comes from the record
    assert again.events == ()


def test_a_failure_recorded_before_pods_were_read_is_not_read_at_rest() -> None:
    """A failure an older operator recorded (no failure field) asks for nothing: the Pods are
    read when a failure is first seen, never for one already in the history."""
    first = decided(rj(1), TEMPLATE, [failed_job()], NOW)  # no Pod said anything
    assert first.status is not None and first.status.history is not None
    assert first.status.history[0].failure is None
    assert decide(rj(1, status=wire(first.status)), TEMPLATE, [failed_job()], NOW).diagnose == ()


def test_when_no_pod_says_anything_the_jobs_own_words_remain() -> None:
    plan = decided(rj(1), TEMPLATE, [failed_job()], NOW, pods_say={"migrate-abcde": NOTHING_FOUND})
    assert by_type(plan.status)["Stalled"]["message"] == LIMIT
    assert "failure" not in history(plan)[0]


def test_a_run_that_succeeds_never_asks_for_its_pods() -> None:
    done = job("migrate-abcde", 1, state="Complete")
    assert decide(rj(1), TEMPLATE, [done], NOW).diagnose == ()


def test_an_older_run_that_fails_beside_a_newer_one_is_read_too() -> None:
    """Under Allow an older run may fail while the newest runs: its entry says why as well."""
    running = job("migrate-fghij", 2, state="running")
    runs = [
        {"jobName": n, "generation": g, "templateHash": d, "cause": c, "result": "Running"}
        for n, g, d, c in (("migrate-fghij", 2, DIGEST, "TemplateChanged"),
                           ("migrate-abcde", 1, OLD, "Created"))
    ]  # fmt: skip
    runs_status = {"observedGeneration": 2, "history": runs}
    older = failed_job("migrate-abcde", 1)
    assert older.metadata is not None and older.metadata.annotations is not None
    older.metadata.annotations[ANNOTATION_HASH] = OLD
    plan = decide(rj(2, status=runs_status), TEMPLATE, [running, older], NOW)
    assert plan.diagnose == ("migrate-abcde",)
    said = {"migrate-abcde": SAID}
    plan = decided(rj(2, status=runs_status), TEMPLATE, [running, older], NOW, pods_say=said)
    entries = {e["jobName"]: e for e in history(plan)}
    assert entries["migrate-abcde"]["failure"]["exitCode"] == 3
    assert plan.status is not None and plan.status.state == "Processing"  # the newest runs on

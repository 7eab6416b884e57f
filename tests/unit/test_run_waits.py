"""Which status means "the run finished", for the typed client's wait."""

from __future__ import annotations

from typing import Any

from reactivejob_api import PodFailure, RunFailed
from typedkube.runs import FAILED, SUCCEEDED, finished_run


def obj(generation: int, observed: int, state: str, **status: Any) -> dict[str, Any]:
    ready = {"type": "Ready", "status": "True" if state == "Ready" else "False",
             "reason": "R", "message": "M"}  # fmt: skip
    return {
        "metadata": {"generation": generation},
        "status": {"observedGeneration": observed, "state": state, "conditions": [ready],
                   "currentJobName": "x-abcde", **status},
    }  # fmt: skip


def run(rerun: str | None, result: str) -> dict[str, Any]:
    return {"jobName": f"x-{rerun}", "rerun": rerun, "result": result}


def test_the_current_generation_must_be_observed_and_finished() -> None:
    assert finished_run(obj(2, 1, "Ready")) is None  # the operator has not seen generation 2
    assert finished_run(obj(2, 2, "Processing")) is None
    done = finished_run(obj(2, 2, "Ready"))
    assert done is not None and done.result == SUCCEEDED and done.job_name == "x-abcde"
    failed = finished_run(obj(2, 2, "Error"))
    assert failed is not None and (failed.result, failed.reason, failed.message) == (
        FAILED,
        "R",
        "M",
    )
    assert str(RunFailed(failed)) == "x-abcde: R: M"
    assert finished_run(obj(2, 2, "Suspended")) is None


def test_a_rerun_token_is_waited_for_until_its_run_exists_and_ends() -> None:
    before = obj(1, 1, "Ready", history=[run(None, SUCCEEDED)])
    assert finished_run(before, "t1") is None  # its Job does not exist yet
    running = obj(1, 1, "Processing", history=[run("t1", "Running"), run(None, SUCCEEDED)])
    assert finished_run(running, "t1") is None
    done = obj(1, 1, "Ready", history=[run("t1", SUCCEEDED), run(None, SUCCEEDED)])
    assert finished_run(done, "t1") is not None
    later = obj(1, 1, "Processing", history=[run("t2", "Running"), run("t1", FAILED)])
    found = finished_run(later, "t1")
    assert found is not None and found.result == FAILED and found.job_name == "x-t1"


def test_a_failed_run_carries_what_its_pod_said_as_fields() -> None:
    said = {"pod": "x-abcde-p1", "container": "migrate", "exitCode": 42, "reason": "Error",
            "message": "bad row 7"}  # fmt: skip
    entry = {"jobName": "x-abcde", "result": FAILED, "reason": "PodFailurePolicy",
             "message": "Container migrate for pod ns/x-abcde-p1 failed with exit code 42",
             "failure": said}  # fmt: skip
    found = finished_run(obj(1, 1, "Error", history=[entry]))
    assert found is not None
    failed = RunFailed(found)
    assert (failed.container, failed.exit_code) == ("migrate", 42)
    assert failed.failure == PodFailure("x-abcde-p1", "migrate", 42, "Error", "bad row 7")
    older = obj(1, 1, "Processing", history=[run("t2", "Running"), {**entry, "rerun": "t1"}])
    by_token = finished_run(older, "t1")
    assert by_token is not None and by_token.failure == failed.failure
    assert by_token.reason == "PodFailurePolicy"  # the Job's reason, as its entry keeps it
    # A run that failed with no Pod to ask has none.
    nothing = finished_run(obj(1, 1, "Error", history=[{**entry, "failure": None}]))
    assert nothing is not None and RunFailed(nothing).exit_code is None

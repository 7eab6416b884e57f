"""Which status means "the run finished", for the typed client's wait."""

from __future__ import annotations

from typing import Any

from reactivejob_api import RunFailed
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

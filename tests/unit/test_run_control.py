"""Run control in ``decide()``: concurrency policy, suspend, reruns, history limits and
``status.history``, each from the ReactiveJob and its Jobs alone."""

from __future__ import annotations

from reactivejob.core.decide import decide
from reactivejob.core.naming import job_name, template_hash
from reactivejob.core.objects import name_of
from reactivejob_api import ReactiveJobRun
from reactivejob_api.models import Job
from reactivejob_api.vocabulary import (
    ANNOTATION_HELD,
    ANNOTATION_RERUN,
    ANNOTATION_RUN,
    ANNOTATION_RUN_CAUSE,
    ConditionType,
)
from tests.samples import simple_template
from tests.unit.builders import (
    DIGEST,
    NOW,
    OLD,
    TEMPLATE,
    UID,
    annotations_of,
    conditions,
    created,
    decided,
    history,
    job,
    rj,
)

# concurrencyPolicy


def test_allow_creates_the_new_job_running_beside_the_old_one() -> None:
    old = job("migrate-old", 1, OLD, state="running")
    plan = decide(rj(2), TEMPLATE, [old], NOW)
    new = created(plan)
    assert not (new.spec and new.spec.suspend)
    assert ANNOTATION_HELD not in annotations_of(new)
    assert plan.delete == () and plan.prune == ()


def test_forbid_holds_the_new_job_while_an_older_one_runs() -> None:
    old = job("migrate-old", 1, OLD, state="running")
    plan = decide(rj(2, spec={"concurrencyPolicy": "Forbid"}), TEMPLATE, [old], NOW)
    new = created(plan)
    assert new.spec is not None and new.spec.suspend is True
    assert annotations_of(new)[ANNOTATION_HELD] == "true"
    assert plan.delete == ()
    assert plan.status is not None and plan.status.conditions is not None
    ready = next(c for c in plan.status.conditions if c.type == "Ready")
    assert ready.reason == "WaitingForPreviousRun" and "migrate-old" in (ready.message or "")
    assert history(plan)[0]["result"] == "Waiting" and "startTime" not in history(plan)[0]


def test_forbid_does_not_hold_when_no_older_job_may_run() -> None:
    finished = job("migrate-old", 1, OLD, state="Complete")
    plan = decide(rj(2, spec={"concurrencyPolicy": "Forbid"}), TEMPLATE, [finished], NOW)
    assert not (created(plan).spec and created(plan).spec.suspend)  # type: ignore[union-attr]


def test_an_older_job_suspended_by_someone_else_blocks_until_it_finishes() -> None:
    """A user, or Kueue's preemption, suspended it: its Pods are gone, but whoever suspended it
    may resume it at any moment, so under Forbid it still holds the new run back."""
    spec = {"concurrencyPolicy": "Forbid"}
    paused = job("migrate-old", 1, OLD, state="running")
    assert paused.spec is not None and paused.status is not None
    paused.spec.suspend = True
    for active in (1, 0):  # Pods stopping, then gone: it may still be resumed
        paused.status.active = active
        held = created(decide(rj(2, spec=spec), TEMPLATE, [paused], NOW))
        assert held.spec is not None and held.spec.suspend is True, active
    finished = job("migrate-old", 1, OLD, state="Failed")
    free = created(decide(rj(2, spec=spec), TEMPLATE, [finished], NOW))
    assert not (free.spec and free.spec.suspend)


def test_replace_deletes_an_older_job_suspended_by_someone_else() -> None:
    paused = job("migrate-old", 1, OLD)
    assert paused.spec is not None
    paused.spec.suspend = True  # never started: suspended from the start, not by us
    plan = decide(rj(2, spec={"concurrencyPolicy": "Replace"}), TEMPLATE, [paused], NOW)
    assert plan.delete == ("migrate-old",)
    assert created(plan).spec is not None and created(plan).spec.suspend is True  # type: ignore[union-attr]


def test_a_held_job_is_resumed_once_the_older_one_finishes() -> None:
    spec = {"concurrencyPolicy": "Forbid"}
    held = job("migrate-new", 2, state="held")
    waiting = decide(
        rj(2, spec=spec), TEMPLATE, [held, job("migrate-old", 1, OLD, state="running")], NOW
    )
    assert waiting.resume is None and waiting.create is None
    done = decide(
        rj(2, spec=spec), TEMPLATE, [held, job("migrate-old", 1, OLD, state="Complete")], NOW
    )
    assert done.resume == "migrate-new" and done.create is None


def test_replace_deletes_the_running_older_job_and_waits_until_it_is_gone() -> None:
    spec = {"concurrencyPolicy": "Replace"}
    old = job("migrate-old", 1, OLD, state="running")
    plan = decide(rj(2, spec=spec), TEMPLATE, [old], NOW)
    assert annotations_of(created(plan))[ANNOTATION_HELD] == "true"
    assert plan.delete == ("migrate-old",)
    held = job("migrate-new", 2, state="held")
    going = old.model_copy(deep=True)
    assert going.metadata is not None
    going.metadata.deletion_timestamp = "2026-11-26T12:00:00Z"
    still = decide(rj(2, spec=spec), TEMPLATE, [held, going], NOW)
    assert still.resume is None and still.delete == ()  # deleted once, then waited for
    gone = decide(rj(2, spec=spec), TEMPLATE, [held], NOW)
    assert gone.resume == "migrate-new"


def test_a_template_that_asks_for_suspend_is_left_to_the_user() -> None:
    template = simple_template()
    template["spec"]["suspend"] = True
    obj = rj(2, template=template, spec={"concurrencyPolicy": "Forbid"})
    old = job("migrate-old", 1, OLD, state="running")
    new = created(decide(obj, template, [old], NOW))
    assert ANNOTATION_HELD not in annotations_of(new)
    user_suspended = job("migrate-new", 2, template_hash(template))
    assert user_suspended.spec is not None
    user_suspended.spec.suspend = True
    plan = decide(obj, template, [user_suspended], NOW)
    assert plan.resume is None


def test_a_superseded_held_job_is_deleted_and_recorded_as_cancelled() -> None:
    spec = {"concurrencyPolicy": "Forbid"}
    previous = {
        "observedGeneration": 2,
        "history": [
            {"jobName": "migrate-mid", "generation": 2, "templateHash": OLD,
             "cause": "TemplateChanged", "result": "Waiting"},
        ],
    }  # fmt: skip
    running = job("migrate-old", 1, OLD, state="running")
    held = job("migrate-mid", 2, OLD, state="held")
    plan = decide(rj(3, spec=spec, status=previous), TEMPLATE, [held, running], NOW)
    assert plan.prune == ("migrate-mid",)
    assert annotations_of(created(plan))[ANNOTATION_HELD] == "true"  # still waits for the old one
    assert [(e["jobName"], e["result"]) for e in history(plan)] == [
        (job_name("migrate", UID, 3), "Waiting"),
        ("migrate-mid", "Cancelled"),
    ]


# suspend


def test_suspend_records_a_change_and_creates_nothing() -> None:
    old = job("migrate-old", 1, OLD, state="Complete")
    plan = decide(rj(2, spec={"suspend": True}), TEMPLATE, [old], NOW)
    assert plan.create is None
    assert conditions(plan) == {"Ready": "False", ConditionType.SUSPENDED: "True"}  # never Stalled
    assert plan.status is not None and plan.status.state == "Suspended"
    assert plan.status.observed_generation == 2
    resumed = decide(rj(3, spec={"suspend": False}), TEMPLATE, [old], NOW)
    assert created(resumed).metadata.name == job_name("migrate", UID, 3)  # type: ignore[union-attr]


def test_suspend_leaves_a_running_job_alone_and_reports_it() -> None:
    running = job("migrate-new", 2, state="running")
    plan = decide(rj(2, spec={"suspend": True}), TEMPLATE, [running], NOW)
    assert plan.create is None and plan.delete == () and plan.prune == ()
    assert conditions(plan) == {
        "Ready": "Unknown",
        "Reconciling": "True",
        ConditionType.SUSPENDED: "True",
    }


def test_suspend_holds_a_held_job_even_when_it_could_start() -> None:
    held = job("migrate-new", 2, state="held")
    plan = decide(
        rj(2, spec={"suspend": True, "concurrencyPolicy": "Forbid"}), TEMPLATE, [held], NOW
    )
    assert plan.resume is None


# reruns


def test_a_new_rerun_token_makes_one_job_named_by_it() -> None:
    done = job("migrate-abcde", 2, state="Complete")
    plan = decide(rj(2, rerun="t1"), TEMPLATE, [done], NOW)
    new = created(plan)
    assert new.metadata is not None
    assert new.metadata.name == job_name("migrate", UID, 2, "t1") != job_name("migrate", UID, 2)
    assert annotations_of(new)[ANNOTATION_RERUN] == "t1"
    assert annotations_of(new)[ANNOTATION_RUN_CAUSE] == "Rerun"
    assert plan.status is not None and plan.status.last_handled_rerun == "t1"
    assert history(plan)[0]["cause"] == "Rerun" and history(plan)[0]["rerun"] == "t1"


def test_a_handled_token_makes_nothing() -> None:
    rerun = job(job_name("migrate", UID, 2, "t1"), 2, state="Complete",
                annotations={ANNOTATION_RERUN: "t1"})  # fmt: skip
    status = {"observedGeneration": 2, "lastHandledRerun": "t1"}
    plan = decide(rj(2, rerun="t1", status=status), TEMPLATE, [rerun], NOW)
    assert plan.create is None


def test_a_rerun_made_before_a_crash_is_found_not_made_again() -> None:
    name = job_name("migrate", UID, 2, "t1")
    made = job(name, 2, state="running", annotations={
        ANNOTATION_RERUN: "t1", ANNOTATION_RUN_CAUSE: "Rerun", ANNOTATION_RUN: "2"})  # fmt: skip
    first = job("migrate-abcde", 2, state="Complete", created="2026-11-26T11:00:00Z")
    plan = decide(rj(2, rerun="t1", status={"observedGeneration": 2}), TEMPLATE, [first, made], NOW)
    assert plan.create is None
    assert plan.status is not None and plan.status.last_handled_rerun == "t1"
    assert plan.status.current_job_name == name
    assert history(plan)[0]["jobName"] == name and history(plan)[0]["cause"] == "Rerun"


def test_a_token_over_63_characters_is_refused_with_a_warning_naming_it() -> None:
    done = job("migrate-abcde", 2, state="Complete")
    plan = decide(rj(2, rerun="x" * 64), TEMPLATE, [done], NOW)
    assert plan.create is None
    warning = next(e for e in plan.events if e.reason == "RerunRefused")
    assert (
        warning.type == "Warning" and f"metadata.annotations[{ANNOTATION_RERUN}]" in warning.message
    )


def test_an_object_without_the_new_fields_gets_the_go_operators_job_name() -> None:
    plan = decide(rj(3), TEMPLATE, [job("migrate-old", 2, OLD, state="Complete")], NOW)
    assert created(plan).metadata.name == job_name("migrate", UID, 3)  # type: ignore[union-attr]
    assert annotations_of(created(plan))[ANNOTATION_RUN_CAUSE] == "TemplateChanged"


# history limits


def test_history_limits_keep_the_newest_of_each_result_and_never_the_newest_job() -> None:
    control = {"successfulJobsHistoryLimit": 1, "failedJobsHistoryLimit": 2}
    jobs = [
        job("migrate-5", 5, state="Complete"),
        job("migrate-4", 4, OLD, state="Failed"),
        job("migrate-3", 3, OLD, state="Complete"),
        job("migrate-2", 2, OLD, state="Failed"),
        job("migrate-1", 1, OLD, state="Failed"),
    ]
    plan = decide(rj(5, spec=control), TEMPLATE, jobs, NOW)
    assert plan.create is None
    assert sorted(plan.prune) == ["migrate-1", "migrate-3"]
    zero = {"successfulJobsHistoryLimit": 0, "failedJobsHistoryLimit": 0}
    assert sorted(decide(rj(5, spec=zero), TEMPLATE, jobs, NOW).prune) == [
        "migrate-1", "migrate-2", "migrate-3", "migrate-4",
    ]  # fmt: skip
    assert decide(rj(5), TEMPLATE, jobs, NOW).prune == ()  # unset: only TTL removes Jobs


# status.history


def test_history_is_capped_newest_first_and_outlives_its_jobs() -> None:
    entries = [
        {"jobName": f"migrate-{g}", "generation": g, "templateHash": OLD,
         "cause": "TemplateChanged", "result": "Succeeded"}
        for g in range(10, 0, -1)
    ]  # fmt: skip
    plan = decide(rj(11, status={"observedGeneration": 10, "history": entries}), TEMPLATE, [], NOW)
    names = [e["jobName"] for e in history(plan)]
    assert names == [job_name("migrate", UID, 11), *(f"migrate-{g}" for g in range(10, 1, -1))]


def test_a_finished_run_gets_its_result_and_times_from_its_job() -> None:
    entry = ReactiveJobRun.model_validate(
        {"jobName": "migrate-abcde", "generation": 2, "templateHash": DIGEST,
         "cause": "Created", "startTime": "2026-11-26T11:00:00Z", "result": "Running"}
    )  # fmt: skip
    status = {
        "observedGeneration": 2,
        "history": [entry.model_dump(by_alias=True, exclude_none=True)],
    }
    plan = decided(rj(2, status=status), TEMPLATE, [job("migrate-abcde", 2, state="Failed")], NOW)
    assert history(plan) == [
        {"jobName": "migrate-abcde", "generation": 2, "templateHash": DIGEST, "cause": "Created",
         "startTime": "2026-11-26T11:00:00Z", "completionTime": "2026-11-26T11:00:09Z",
         "result": "Failed"}
    ]  # fmt: skip


def test_a_go_era_job_is_recorded_once_and_a_later_non_template_change_reruns_nothing() -> None:
    go_job = job("migrate-x7k2p", 2, "2" * 64, state="Complete")  # the Go operator's own hash
    adopted = decide(rj(2), TEMPLATE, [go_job], NOW)
    assert adopted.create is None
    assert history(adopted)[0]["jobName"] == "migrate-x7k2p"
    assert history(adopted)[0]["templateHash"] == DIGEST
    status = adopted.status.model_dump(by_alias=True, exclude_none=True)  # type: ignore[union-attr]
    suspended_later = decide(rj(3, spec={"suspend": False}, status=status), TEMPLATE, [go_job], NOW)
    assert suspended_later.create is None


def test_a_token_used_before_is_recorded_once_and_then_settles() -> None:
    def rerun_job(token: str, run: int) -> Job:
        return job(job_name("migrate", UID, 2, token), 2, state="Complete",
                   annotations={ANNOTATION_RERUN: token, ANNOTATION_RUN: str(run)})  # fmt: skip

    jobs = [job("migrate-abcde", 2, state="Complete"), rerun_job("t1", 2), rerun_job("t2", 3)]
    runs = [
        {"jobName": name_of(j), "generation": 2, "templateHash": DIGEST, "cause": "Rerun",
         "result": "Succeeded"}
        for j in jobs
    ]  # fmt: skip
    status = {"observedGeneration": 2, "lastHandledRerun": "t2", "history": runs[::-1]}
    again = decide(rj(2, rerun="t1", status=status), TEMPLATE, jobs, NOW)
    assert created(again).metadata.name == name_of(jobs[1])  # type: ignore[union-attr]
    assert len(history(again)) == 3  # meets AlreadyExists: no second entry for it
    settled = again.status.model_dump(by_alias=True, exclude_none=True)  # type: ignore[union-attr]
    assert settled["lastHandledRerun"] == "t1"
    assert decide(rj(2, rerun="t1", status=settled), TEMPLATE, jobs, NOW).create is None

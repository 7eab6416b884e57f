"""The course of a ReactiveJob's Jobs in ``decide()``: the first Job and our finalizer, which
Job is current, a template change, taking over the Go operator's Jobs, deciding from the
template's hash alone, deletion and orphans, a refused template and its backoff, the
``still_current`` rule and ``Plan.finished``. From plain inputs: no cluster, no mocks."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from reactivejob.core.decide import (
    REJECTED,
    REJECTED_RETRY,
    Plan,
    decide,
    release_orphans,
    still_current,
)
from reactivejob.core.naming import job_name, template_hash
from reactivejob_api import vocabulary
from reactivejob_api.vocabulary import FINALIZER, ConditionType
from tests.samples import simple_template
from tests.unit.builders import (
    DELETED_AT,
    NOW,
    NOW_WIRE,
    TEMPLATE,
    UID,
    by_type,
    conditions,
    created_name,
    decided,
    job,
    rj,
    true,
)

# --- the first Job ---------------------------------------------------------------------------


def test_a_new_reactive_job_gets_a_finalizer_and_a_job() -> None:
    plan = decide(rj(finalizers=()), TEMPLATE, [], NOW)
    assert plan.add_finalizer
    assert plan.create is not None
    meta = plan.create.metadata
    assert meta is not None
    assert meta.name == job_name("migrate", UID, 1)
    assert meta.labels == {
        vocabulary.LABEL_CONTROLLER_UID: UID,
        vocabulary.LABEL_CONTROLLER_NAME: "migrate",
    }
    assert meta.annotations == {
        vocabulary.ANNOTATION_GENERATION: "1",
        vocabulary.ANNOTATION_HASH: template_hash(TEMPLATE),
        vocabulary.ANNOTATION_RUN_CAUSE: "Created",
        vocabulary.ANNOTATION_RUN: "1",
    }
    assert meta.finalizers == [FINALIZER]
    assert meta.owner_references is not None
    assert meta.owner_references[0].controller is True
    assert plan.create.model_dump(by_alias=True, exclude_unset=True)["spec"] == TEMPLATE["spec"]
    assert plan.status is not None
    assert plan.status.state == "Processing"
    assert plan.status.observed_generation == 1
    assert plan.status.current_job_name == meta.name
    assert conditions(plan) == {"Ready": "Unknown", ConditionType.RECONCILING: "True"}
    assert [e.reason for e in plan.events] == ["JobCreated"]


@pytest.mark.parametrize(("present", "add"), [((FINALIZER,), False), ((), True)])
def test_our_finalizer_is_added_once_also_when_the_job_exists(
    present: tuple[str, ...], add: bool
) -> None:
    obj = rj(finalizers=present)
    current = job("migrate-87phg", 1, conditions=[true("Complete", "R")])
    assert decide(obj, TEMPLATE, [current], NOW).add_finalizer is add
    assert decide(obj, TEMPLATE, [], NOW).add_finalizer is add


@pytest.mark.parametrize(
    ("latest_generation", "latest_rerun", "wanted"),
    [(1, None, True), (2, None, False), (1, "again", False)],
)
def test_a_job_is_made_only_while_its_run_is_still_current(
    latest_generation: int, latest_rerun: str | None, wanted: bool
) -> None:
    decided_on = rj()
    plan = decide(decided_on, TEMPLATE, [], NOW)
    assert plan.create is not None
    latest = rj(latest_generation, rerun=latest_rerun)
    assert still_current(decided_on, latest, plan.create) is wanted
    assert still_current(decided_on, None, plan.create)  # gone: its deletion decides


@pytest.mark.parametrize(
    ("finished", "result", "reason"),
    [("Complete", "Succeeded", "JobSucceeded"), ("Failed", "Failed", "JobFailed")],
)
def test_a_finished_run_is_a_field_of_the_plan_once(
    finished: str, result: str, reason: str
) -> None:
    obj = rj()
    done = job(job_name("migrate", UID, 1), 1, state=finished)
    plan = decided(obj, TEMPLATE, [done], NOW)
    assert plan.finished == result
    assert [e.reason for e in plan.events] == [reason]
    obj.status = plan.status
    assert decided(obj, TEMPLATE, [done], NOW).finished is None  # seen: not counted again


# --- which Job is current --------------------------------------------------------------------


def test_a_job_made_for_this_template_is_current_whatever_generation_it_names() -> None:
    # A generation bump that leaves jobTemplate as it was must not re-run the Job.
    plan = decide(rj(5), TEMPLATE, [job("migrate-abcde", 4)], NOW)
    assert plan.create is None
    assert plan.status is not None and plan.status.current_job_name == "migrate-abcde"


@pytest.mark.parametrize("generation", [None, "not-a-number"])
def test_a_job_without_a_readable_generation_is_never_current(generation: str | None) -> None:
    stray = job("migrate-stray", generation, "other")
    plan = decide(rj(1), TEMPLATE, [stray], NOW)
    assert created_name(plan) == "migrate-87phg"
    assert plan.release == ("migrate-stray",)


def test_a_job_without_a_generation_sorts_below_the_current_one() -> None:
    current = job("migrate-87phg", 1)
    plan = decide(rj(1), TEMPLATE, [job("migrate-stray", None, None), current], NOW)
    assert plan.create is None
    assert plan.release == ("migrate-stray",)


def test_a_job_with_a_garbled_generation_sorts_oldest() -> None:
    garbled = job("migrate-bad00", "not-a-number", "x")
    plan = decide(rj(2), TEMPLATE, [job("migrate-good0", 2), garbled], NOW)
    assert plan.create is None
    assert plan.release == ("migrate-bad00",)


# --- a changed template, and the Go operator's Jobs -------------------------------------------


def test_a_changed_template_creates_a_new_job_and_releases_the_old() -> None:
    template = simple_template(rev="2")
    old = job("migrate-old01", 1, template_hash(simple_template(rev="1")), state="Complete")
    plan = decide(rj(2, template=template), template, [old], NOW)
    assert plan.create is not None
    assert plan.create.metadata is not None
    assert plan.create.metadata.name == job_name("migrate", UID, 2)
    assert plan.release == ("migrate-old01",)


def test_takeover_the_go_operators_job_for_this_generation_is_current() -> None:
    go_newest = job("migrate-x7k2p", 3, "go-hash-differs", state="Complete")
    go_older = job("migrate-q9w3e", 2, "go-hash-older", state="Complete")
    plan = decide(rj(3), TEMPLATE, [go_older, go_newest], NOW)
    assert plan.create is None
    assert plan.status is not None
    assert plan.status.state == "Ready"
    assert plan.status.current_job_name == "migrate-x7k2p"
    assert plan.release == ("migrate-q9w3e",)


def test_takeover_after_a_change_the_go_operator_did_not_see() -> None:
    plan = decide(rj(4), TEMPLATE, [job("migrate-x7k2p", 3, "go-hash")], NOW)
    assert plan.create is not None
    assert plan.release == ("migrate-x7k2p",)


# --- deciding from the cache, which may hold only the template's hash ---------------------------


def test_the_hash_alone_is_enough_to_mirror_the_current_job() -> None:
    digest = template_hash(TEMPLATE)
    # Current by hash only (its generation is older), so the given hash is what was compared.
    current = job("migrate-abcde", 4, digest, conditions=[true("Complete", "R")])
    plan = decide(rj(5), None, [current], NOW, digest=digest)
    assert not plan.fetch_template
    assert plan.status is not None
    assert (plan.status.state, plan.status.current_job_name) == ("Ready", "migrate-abcde")


def test_a_job_to_make_without_the_template_asks_for_it_and_does_nothing_else() -> None:
    old = job("migrate-old01", 1, "older-template", conditions=[true("Complete", "R")])
    # Nothing is released or written yet: the decision with the template does all of it.
    plan = decide(rj(2), None, [old], NOW, digest=template_hash(TEMPLATE))
    assert plan == Plan(fetch_template=True)


# --- deletion and orphans --------------------------------------------------------------------


def test_deletion_blocked_by_foreign_finalizers() -> None:
    obj = rj(deleted=DELETED_AT, finalizers=(FINALIZER, "example.com/hold"))
    plan = decide(obj, TEMPLATE, [job("migrate-abcde", 1, "h")], NOW)
    assert plan.status is not None
    assert plan.status.state == "DeletionBlocked"
    assert (plan.delete, plan.release, plan.remove_finalizer) == ((), (), False)


def test_deletion_blocked_says_why_and_is_rechecked() -> None:
    obj = rj(
        finalizers=(FINALIZER, "example.com/hold"),
        deleted=DELETED_AT,
        status={"state": "Ready", "currentJobName": "migrate-87phg"},
    )
    plan = decide(obj, TEMPLATE, [job("migrate-87phg", 1, "h")], NOW)
    assert plan.requeue_after == 5.0
    assert plan.status is not None
    assert plan.status.current_job_name == "migrate-87phg"
    ready = by_type(plan.status)[ConditionType.READY]
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "Unknown",
        "DeletionBlocked",
        "Deletion blocked due to foreign finalizers",
    )


@pytest.mark.parametrize("extra", [[], ["foregroundDeletion"]])
def test_deletion_deletes_jobs_then_releases(extra: list[str]) -> None:
    obj = rj(deleted=DELETED_AT, finalizers=(FINALIZER, *extra))
    plan = decide(obj, TEMPLATE, [job("migrate-a", 1, "h"), job("migrate-b", 2, "h")], NOW)
    assert plan.status is not None
    assert plan.status.state == "Deleting"
    assert set(plan.delete) == {"migrate-a", "migrate-b"}
    assert set(plan.release) == {"migrate-a", "migrate-b"}
    assert not plan.remove_finalizer
    assert decide(obj, TEMPLATE, [], NOW).remove_finalizer


def test_deleting_keeps_naming_the_newest_job_and_is_rechecked() -> None:
    obj = rj(deleted=DELETED_AT, status={"state": "Ready", "currentJobName": "migrate-87phg"})
    plan = decide(obj, TEMPLATE, [job("migrate-87phg", 1, "h")], NOW)
    assert plan.status is not None
    assert (plan.status.state, plan.status.current_job_name) == ("Deleting", "migrate-87phg")
    assert (
        by_type(plan.status)[ConditionType.READY]["message"]
        == "waiting for deletion of dependent jobs"
    )
    assert plan.requeue_after == 5.0


def test_orphan_deletion_keeps_the_jobs() -> None:
    obj = rj(deleted=DELETED_AT, finalizers=(FINALIZER, "orphan"))
    plan = decide(obj, TEMPLATE, [job("migrate-a", 1, "h")], NOW)
    assert (plan.delete, plan.release) == ((), ("migrate-a",))


def test_jobs_left_by_a_vanished_reactive_job_are_let_go() -> None:
    held = job("migrate-held1", 1, "h")
    free = job("migrate-free1", 2, "h", finalizers=["example.com/other"])
    bare = job("migrate-bare1", 3, "h", finalizers=())
    assert release_orphans([held, free, bare]) == Plan(release=("migrate-held1",))


# --- a refused template and its backoff ------------------------------------------------------


def rejected_at(when: str, generation: int = 1) -> dict[str, Any]:
    rejection = {"reason": REJECTED, "message": "no containers", "lastTransitionTime": when}
    return {
        "observedGeneration": generation,
        "state": "Error",
        "conditions": [
            {"type": ConditionType.READY, "status": "False", **rejection},
            {"type": ConditionType.STALLED, "status": "True", **rejection},
        ],
    }


def test_a_refused_create_is_a_rejection_said_once_and_retried_later() -> None:
    obj = rj()
    plan = decide(obj, TEMPLATE, [], NOW, refused="spec.template: Invalid value")
    assert plan.create is None and not plan.add_finalizer
    assert plan.status is not None and plan.status.state == "Error"
    assert conditions(plan) == {"Ready": "False", ConditionType.STALLED: "True"}
    assert [(e.type, e.reason, e.message) for e in plan.events] == [
        ("Warning", REJECTED, "spec.template: Invalid value")
    ]
    assert plan.requeue_after == REJECTED_RETRY
    obj.status = plan.status  # written; the same refusal again changes nothing, says nothing
    again = decide(obj, TEMPLATE, [], NOW, refused="spec.template: Invalid value")
    assert again.events == () and again.status == plan.status


def test_a_rejected_template_is_retried_with_backoff_not_in_a_loop() -> None:
    stalled = {
        "type": ConditionType.STALLED,
        "status": "True",
        "reason": REJECTED,
        "message": "no containers",
        "lastTransitionTime": "2026-11-26T11:59:00Z",
    }
    obj = rj(status={"observedGeneration": 1, "state": "Error", "conditions": [stalled]})
    waiting = decide(obj, TEMPLATE, [], NOW)
    assert waiting.create is None
    assert waiting.requeue_after == pytest.approx(REJECTED_RETRY - 60)
    later = decide(obj, TEMPLATE, [], NOW + datetime.timedelta(seconds=REJECTED_RETRY))
    assert later.create is not None


def test_the_backoff_counts_from_the_rejection_when_stalled_was_already_true() -> None:
    # The last run failed an hour ago: Stalled is True since then. A rejection now changes its
    # reason but not its status, so lastTransitionTime stays an hour old.
    failed_at = "2026-11-26T11:00:00Z"
    failed = {"reason": "BackoffLimitExceeded", "message": "failed",
              "lastTransitionTime": failed_at, "lastUpdateTime": failed_at}  # fmt: skip
    obj = rj(status={"observedGeneration": 1, "state": "Error", "conditions": [
        {"type": ConditionType.READY, "status": "False", **failed},
        {"type": ConditionType.STALLED, "status": "True", **failed},
    ]})  # fmt: skip
    refused = decide(obj, TEMPLATE, [], NOW, refused="spec.template: Invalid value")
    obj.status = refused.status
    later = decide(obj, TEMPLATE, [], NOW + datetime.timedelta(seconds=10))
    assert later.create is None
    assert later.requeue_after == pytest.approx(REJECTED_RETRY - 10)


@pytest.mark.parametrize(("elapsed", "wait"), [(REJECTED_RETRY - 1, 1.0), (REJECTED_RETRY, None)])
def test_a_rejected_template_is_retried_once_the_backoff_has_passed(
    elapsed: float, wait: float | None
) -> None:
    obj = rj(status=rejected_at(NOW_WIRE))
    plan = decide(obj, TEMPLATE, [], NOW + datetime.timedelta(seconds=elapsed))
    assert (plan.create is None, plan.requeue_after) == (
        (True, wait) if wait is not None else (False, 30.0)
    )


def test_superseded_jobs_are_released_while_a_rejected_template_waits() -> None:
    # The old template's Job is superseded whether or not the new one could be created.
    obj = rj(2, status=rejected_at(NOW_WIRE, generation=2))
    old = job("migrate-old01", 1, "older-template", conditions=[true("Complete", "R")])
    plan = decide(obj, TEMPLATE, [old], NOW + datetime.timedelta(seconds=10))
    assert plan.create is None
    assert plan.release == ("migrate-old01",)


def test_a_failed_job_is_not_a_rejection_and_causes_no_backoff() -> None:
    # Its Job was removed by hand: a failed run is no reason to wait before running again.
    failed = {"reason": "BackoffLimitExceeded", "message": "m", "lastTransitionTime": NOW_WIRE}
    obj = rj(
        status={
            "observedGeneration": 1,
            "state": "Error",
            "conditions": [
                {"type": ConditionType.READY, "status": "False", **failed},
                {"type": ConditionType.STALLED, "status": "True", **failed},
            ],
        }
    )
    plan = decide(obj, TEMPLATE, [], NOW + datetime.timedelta(seconds=10))
    assert created_name(plan) == "migrate-87phg"

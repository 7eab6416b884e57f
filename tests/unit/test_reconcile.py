"""The reconcile decision on plain inputs: no cluster, no mocks."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from reactivejob.core.decide import REJECTED, REJECTED_RETRY, decide, still_current
from reactivejob.core.naming import job_name, template_hash
from reactivejob_api import ReactiveJob
from reactivejob_api.models import Job
from reactivejob_api.vocabulary import (
    ANNOTATION_GENERATION,
    ANNOTATION_HASH,
    ANNOTATION_RUN,
    ANNOTATION_RUN_CAUSE,
    FINALIZER,
    LABEL_CONTROLLER_NAME,
    LABEL_CONTROLLER_UID,
    ConditionType,
)
from tests.samples import reactive_job, simple_template

NOW = datetime.datetime(2026, 11, 26, 12, 0, 0, tzinfo=datetime.UTC)
UID = "0b7c5b8e-1111-2222-3333-444455556666"


def rj(
    generation: int = 1, template: dict[str, Any] | None = None, **meta: Any
) -> tuple[ReactiveJob, dict[str, Any]]:
    body = reactive_job("migrate", template or simple_template(), "team-a")
    body["metadata"].update(uid=UID, generation=generation, finalizers=[FINALIZER], **meta)
    return ReactiveJob.model_validate(body), body["spec"]["jobTemplate"]


def job(name: str, generation: int, digest: str, *conditions: str, **meta: Any) -> Job:
    return Job.model_validate(
        {
            "metadata": {
                "name": name,
                "namespace": "team-a",
                "annotations": {ANNOTATION_GENERATION: str(generation), ANNOTATION_HASH: digest},
                "finalizers": [FINALIZER],
                **meta,
            },
            "status": {
                "conditions": [
                    {"type": c, "status": "True", "reason": f"{c}Reason", "message": "m"}
                    for c in conditions
                ]
            },
        }
    )


def conditions(plan: Any) -> dict[str, str]:
    return {c.type: c.status for c in plan.status.conditions}


def test_a_new_reactive_job_gets_a_finalizer_and_a_job() -> None:
    obj, template = rj()
    obj.metadata.finalizers = []  # type: ignore[union-attr]
    plan = decide(obj, template, [], NOW)
    assert plan.add_finalizer
    assert plan.create is not None
    meta = plan.create.metadata
    assert meta is not None
    assert meta.name == job_name("migrate", UID, 1)
    assert meta.labels == {LABEL_CONTROLLER_UID: UID, LABEL_CONTROLLER_NAME: "migrate"}
    assert meta.annotations == {
        ANNOTATION_GENERATION: "1",
        ANNOTATION_HASH: template_hash(template),
        ANNOTATION_RUN_CAUSE: "Created",
        ANNOTATION_RUN: "1",
    }
    assert meta.finalizers == [FINALIZER]
    assert meta.owner_references is not None
    assert meta.owner_references[0].controller is True
    assert plan.create.model_dump(by_alias=True, exclude_unset=True)["spec"] == template["spec"]
    assert plan.status is not None
    assert plan.status.state == "Processing"
    assert plan.status.observed_generation == 1
    assert plan.status.current_job_name == meta.name
    assert conditions(plan) == {"Ready": "Unknown", ConditionType.RECONCILING: "True"}
    assert [e.reason for e in plan.events] == ["JobCreated"]


def test_template_labels_annotations_and_finalizers_are_kept() -> None:
    template = simple_template(note="kept")
    template["metadata"].update(labels={"team": "a"}, finalizers=["example.com/keep"])
    obj, template = rj(template=template)
    plan = decide(obj, template, [], NOW)
    assert plan.create is not None
    meta = plan.create.metadata
    assert meta is not None
    assert meta.labels is not None and meta.labels["team"] == "a"
    assert meta.annotations is not None and meta.annotations["note"] == "kept"
    assert meta.finalizers == ["example.com/keep", FINALIZER]


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
    obj, template = rj()
    newest = job("migrate-abcde", 1, template_hash(template), *job_conditions)
    plan = decide(obj, template, [newest], NOW)
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
        again = decide(obj, template, [newest], NOW + datetime.timedelta(minutes=1))
        assert again.status == plan.status
        assert again.events == ()


def test_a_changed_template_creates_a_new_job_and_releases_the_old() -> None:
    obj, template = rj(generation=2, template=simple_template(rev="2"))
    old = job("migrate-old01", 1, template_hash(simple_template(rev="1")), "Complete")
    plan = decide(obj, template, [old], NOW)
    assert plan.create is not None
    assert plan.create.metadata is not None
    assert plan.create.metadata.name == job_name("migrate", UID, 2)
    assert plan.release == ("migrate-old01",)


def test_takeover_the_go_operators_job_for_this_generation_is_current() -> None:
    obj, template = rj(generation=3)
    go_newest = job("migrate-x7k2p", 3, "go-hash-differs", "Complete")
    go_older = job("migrate-q9w3e", 2, "go-hash-older", "Complete")
    plan = decide(obj, template, [go_older, go_newest], NOW)
    assert plan.create is None
    assert plan.status is not None
    assert plan.status.state == "Ready"
    assert plan.status.current_job_name == "migrate-x7k2p"
    assert plan.release == ("migrate-q9w3e",)


def test_takeover_after_a_change_the_go_operator_did_not_see() -> None:
    obj, template = rj(generation=4)
    plan = decide(obj, template, [job("migrate-x7k2p", 3, "go-hash")], NOW)
    assert plan.create is not None
    assert plan.release == ("migrate-x7k2p",)


def test_a_job_with_a_garbled_generation_sorts_oldest() -> None:
    obj, template = rj(generation=2)
    digest = template_hash(template)
    garbled = job("migrate-bad00", 0, "x")
    garbled.metadata.annotations[ANNOTATION_GENERATION] = "not-a-number"  # type: ignore[index, union-attr]
    plan = decide(obj, template, [job("migrate-good0", 2, digest), garbled], NOW)
    assert plan.create is None
    assert plan.release == ("migrate-bad00",)


DELETED_AT = "2026-11-26T11:00:00Z"


def test_deletion_blocked_by_foreign_finalizers() -> None:
    obj, template = rj(deletion_timestamp=DELETED_AT)
    obj.metadata.finalizers = [FINALIZER, "example.com/hold"]  # type: ignore[union-attr]
    plan = decide(obj, template, [job("migrate-abcde", 1, "h")], NOW)
    assert plan.status is not None
    assert plan.status.state == "DeletionBlocked"
    assert (plan.delete, plan.release, plan.remove_finalizer) == ((), (), False)


@pytest.mark.parametrize("extra", [[], ["foregroundDeletion"]])
def test_deletion_deletes_jobs_then_releases(extra: list[str]) -> None:
    obj, template = rj(deletion_timestamp=DELETED_AT)
    obj.metadata.finalizers = [FINALIZER, *extra]  # type: ignore[union-attr]
    plan = decide(obj, template, [job("migrate-a", 1, "h"), job("migrate-b", 2, "h")], NOW)
    assert plan.status is not None
    assert plan.status.state == "Deleting"
    assert set(plan.delete) == {"migrate-a", "migrate-b"}
    assert set(plan.release) == {"migrate-a", "migrate-b"}
    assert not plan.remove_finalizer
    assert decide(obj, template, [], NOW).remove_finalizer


def test_orphan_deletion_keeps_the_jobs() -> None:
    obj, template = rj(deletion_timestamp=DELETED_AT)
    obj.metadata.finalizers = [FINALIZER, "orphan"]  # type: ignore[union-attr]
    plan = decide(obj, template, [job("migrate-a", 1, "h")], NOW)
    assert (plan.delete, plan.release) == ((), ("migrate-a",))


def test_a_rejected_template_is_retried_with_backoff_not_in_a_loop() -> None:
    obj, template = rj()
    obj.status = ReactiveJob.model_validate(
        {
            "status": {
                "observedGeneration": 1,
                "state": "Error",
                "conditions": [
                    {
                        "type": ConditionType.STALLED,
                        "status": "True",
                        "reason": REJECTED,
                        "message": "no containers",
                        "lastTransitionTime": "2026-11-26T11:59:00Z",
                    }
                ],
            }
        }
    ).status
    waiting = decide(obj, template, [], NOW)
    assert waiting.create is None
    assert waiting.requeue_after == pytest.approx(REJECTED_RETRY - 60)
    later = decide(obj, template, [], NOW + datetime.timedelta(seconds=REJECTED_RETRY))
    assert later.create is not None


def test_hash_is_canonical_and_names_are_deterministic_and_short() -> None:
    assert template_hash({"a": 1, "b": [1, {"c": "ä"}]}) == template_hash(
        {"b": [1, {"c": "ä"}], "a": 1}
    )
    assert template_hash({"a": 1}) != template_hash({"a": 2})
    assert job_name("x", UID, 1) == job_name("x", UID, 1)
    assert job_name("x", UID, 1) != job_name("x", UID, 2)
    long = job_name("a" * 60 + "." + "b" * 100, UID, 7)
    assert len(long) <= 63
    assert long[-6] == "-"
    assert long[-7] not in "-."


def test_a_refused_create_is_a_rejection_said_once_and_retried_later() -> None:
    obj, template = rj()
    plan = decide(obj, template, [], NOW, refused="spec.template: Invalid value")
    assert plan.create is None and not plan.add_finalizer
    assert plan.status is not None and plan.status.state == "Error"
    assert conditions(plan) == {"Ready": "False", ConditionType.STALLED: "True"}
    assert [(e.type, e.reason, e.message) for e in plan.events] == [
        ("Warning", REJECTED, "spec.template: Invalid value")
    ]
    assert plan.requeue_after == REJECTED_RETRY
    obj.status = plan.status  # written; the same refusal again changes nothing, says nothing
    again = decide(obj, template, [], NOW, refused="spec.template: Invalid value")
    assert again.events == () and again.status == plan.status


@pytest.mark.parametrize(
    ("latest_generation", "latest_rerun", "wanted"),
    [(1, None, True), (2, None, False), (1, "again", False)],
)
def test_a_job_is_made_only_while_its_run_is_still_current(
    latest_generation: int, latest_rerun: str | None, wanted: bool
) -> None:
    decided_on, template = rj()
    plan = decide(decided_on, template, [], NOW)
    assert plan.create is not None
    annotations = {"batch.cs.sap.com/rerun": latest_rerun} if latest_rerun else {}
    latest, _ = rj(generation=latest_generation, annotations=annotations)
    assert still_current(decided_on, latest, plan.create) is wanted
    assert still_current(decided_on, None, plan.create)  # gone: its deletion decides


@pytest.mark.parametrize(
    ("finished", "result", "reason"),
    [("Complete", "Succeeded", "JobSucceeded"), ("Failed", "Failed", "JobFailed")],
)
def test_a_finished_run_is_a_field_of_the_plan_once(
    finished: str, result: str, reason: str
) -> None:
    obj, template = rj()
    done = job(job_name("migrate", UID, 1), 1, template_hash(template), finished)
    plan = decide(obj, template, [done], NOW)
    assert plan.finished == result
    assert [e.reason for e in plan.events] == [reason]
    obj.status = plan.status
    assert decide(obj, template, [done], NOW).finished is None  # seen: not counted again

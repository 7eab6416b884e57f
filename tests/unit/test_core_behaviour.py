"""What a user sees of the reconcile core: the Job's wire body, the status text and timestamps,
events, requeues. Each expectation comes from the contract (Go-operator compatibility, Kubernetes
conventions, the README), not from running the code; no cluster, no mocks."""

from __future__ import annotations

import datetime
import hashlib
from typing import Any

import pytest

from reactivejob.core.decide import REJECTED, REJECTED_RETRY, Event, Plan, decide, release_orphans
from reactivejob.core.naming import job_name, template_hash
from reactivejob.core.status import same_status
from reactivejob_api import ReactiveJob, ReactiveJobStatus
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

UID = "0b7c5b8e-1111-2222-3333-444455556666"
T0 = datetime.datetime(2026, 11, 26, 12, 0, 0, tzinfo=datetime.UTC)
T0_WIRE = "2026-11-26T12:00:00Z"  # RFC 3339 in UTC, seconds precision, as metav1.Time writes it
DELETED_AT = "2026-11-26T11:00:00Z"


def rj(
    generation: int = 1,
    template: dict[str, Any] | None = None,
    finalizers: tuple[str, ...] = (FINALIZER,),
    status: dict[str, Any] | None = None,
    **meta: Any,
) -> tuple[ReactiveJob, dict[str, Any]]:
    body = reactive_job("migrate", template or simple_template(), "team-a")
    body["metadata"].update(uid=UID, generation=generation, finalizers=list(finalizers), **meta)
    if status is not None:
        body["status"] = status
    return ReactiveJob.model_validate(body), body["spec"]["jobTemplate"]


def job(
    name: str,
    annotations: dict[str, str],
    conditions: list[dict[str, str]] | None = None,
    **meta: Any,
) -> Job:
    body: dict[str, Any] = {
        "metadata": {
            "name": name,
            "namespace": "team-a",
            "annotations": annotations,
            "finalizers": [FINALIZER],
            **meta,
        }
    }
    if conditions is not None:
        body["status"] = {"conditions": conditions}
    return Job.model_validate(body)


def ours(generation: int, digest: str) -> dict[str, str]:
    return {ANNOTATION_GENERATION: str(generation), ANNOTATION_HASH: digest}


def true(kind: str, reason: str | None = None, message: str | None = None) -> dict[str, str]:
    condition = {"type": kind, "status": "True"}
    if reason is not None:
        condition["reason"] = reason
    if message is not None:
        condition["message"] = message
    return condition


def by_type(status: ReactiveJobStatus | None) -> dict[str, dict[str, Any]]:
    assert status is not None and status.conditions is not None
    return {
        c.type: c.model_dump(by_alias=True, exclude_none=True, exclude={"type"})
        for c in status.conditions
    }


def created_name(plan: Plan) -> str:
    assert plan.create is not None and plan.create.metadata is not None
    return str(plan.create.metadata.name)


# --- the Job on the wire ---------------------------------------------------------------------


def test_the_created_job_carries_the_go_operators_ties_and_the_template() -> None:
    template = simple_template(note="kept")
    template["metadata"].update(
        # Ours must win over look-alikes in the template: they are how Jobs are found again.
        labels={"team": "a", LABEL_CONTROLLER_UID: "forged"},
        finalizers=["example.com/keep", FINALIZER],
    )
    obj, template = rj(template=template)
    plan = decide(obj, template, [], T0)
    assert plan.create is not None
    # What the typed client sends (typedkube.wire.body_of): by alias, unset fields left out.
    wire = plan.create.model_dump(by_alias=True, exclude_unset=True, mode="json")
    assert wire == {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "migrate-87phg",
            "namespace": "team-a",
            "labels": {"team": "a", LABEL_CONTROLLER_UID: UID, LABEL_CONTROLLER_NAME: "migrate"},
            "annotations": {
                "note": "kept",
                ANNOTATION_GENERATION: "1",
                ANNOTATION_HASH: template_hash(template),
                # Added by run control; not one the Go operator set, and listed in the README.
                ANNOTATION_RUN_CAUSE: "Created",
                ANNOTATION_RUN: "1",
            },
            # Ours exactly once, however often the template names it.
            "finalizers": ["example.com/keep", FINALIZER],
            # controllerutil.SetControllerReference: blockOwnerDeletion makes a foreground
            # delete of the ReactiveJob wait for its Jobs.
            "ownerReferences": [
                {
                    "apiVersion": "batch.cs.sap.com/v1alpha1",
                    "kind": "ReactiveJob",
                    "name": "migrate",
                    "uid": UID,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": template["spec"],
    }


def test_template_name_generate_name_and_namespace_never_reach_the_job() -> None:
    # The CRD's CEL rules refuse these, but objects stored under an older CRD (the Go
    # operator's, before a takeover) can still carry them.
    template = simple_template()
    template["metadata"] = {"name": "x", "generateName": "x-", "namespace": "elsewhere"}
    obj, template = rj(template=template)
    plan = decide(obj, template, [], T0)
    assert plan.create is not None and plan.create.metadata is not None
    meta = plan.create.metadata
    assert (meta.name, meta.generate_name, meta.namespace) == ("migrate-87phg", None, "team-a")


def test_the_hash_annotation_is_sha256_of_compact_sorted_utf8_json() -> None:
    # The annotation outlives operator versions: Jobs made by an older release must still be
    # recognised as made for the current template, so the canonical form is fixed.
    template = {"b": [1, {"c": "ä"}], "a": 1}
    canonical = '{"a":1,"b":[1,{"c":"ä"}]}'
    assert template_hash(template) == hashlib.sha256(canonical.encode()).hexdigest()


def test_job_names_are_the_reactive_job_name_and_a_stable_suffix() -> None:
    # sha256("<uid>/<generation>"), first 8 bytes big-endian, 5 base-27 digits (least
    # significant first) in the apiserver's generateName alphabet.
    assert job_name("migrate", UID, 1) == "migrate-87phg"
    assert job_name("migrate", UID, 2) == "migrate-w4tnk"


def test_a_long_name_is_cut_to_63_characters_without_a_trailing_separator() -> None:
    suffix = job_name("x", UID, 1).removeprefix("x-")
    longest_kept = "a" * 57  # 63 - len("-") - 5
    assert job_name(longest_kept, UID, 1) == f"{longest_kept}-{suffix}"
    assert job_name("a" * 56 + "-" + "b" * 10, UID, 1) == "a" * 56 + f"-{suffix}"


# --- which Job is current --------------------------------------------------------------------


def test_a_job_made_for_this_template_is_current_whatever_generation_it_names() -> None:
    # A generation bump that leaves jobTemplate as it was must not re-run the Job.
    obj, template = rj(generation=5)
    plan = decide(obj, template, [job("migrate-abcde", ours(4, template_hash(template)))], T0)
    assert plan.create is None
    assert plan.status is not None and plan.status.current_job_name == "migrate-abcde"


@pytest.mark.parametrize("annotations", [{}, {ANNOTATION_GENERATION: "not-a-number"}])
def test_a_job_without_a_readable_generation_is_never_current(
    annotations: dict[str, str],
) -> None:
    obj, template = rj(generation=1)
    stray = job("migrate-stray", {**annotations, ANNOTATION_HASH: "other"})
    plan = decide(obj, template, [stray], T0)
    assert created_name(plan) == "migrate-87phg"
    assert plan.release == ("migrate-stray",)


def test_a_job_without_a_generation_sorts_below_the_current_one() -> None:
    obj, template = rj(generation=1)
    current = job("migrate-87phg", ours(1, template_hash(template)))
    plan = decide(obj, template, [job("migrate-stray", {}), current], T0)
    assert plan.create is None
    assert plan.release == ("migrate-stray",)


# --- deciding from the cache, which may hold only the template's hash ---------------------------


def test_the_hash_alone_is_enough_to_mirror_the_current_job() -> None:
    obj, template = rj(generation=5)
    digest = template_hash(template)
    # Current by hash only (its generation is older), so the given hash is what was compared.
    current = job("migrate-abcde", ours(4, digest), [true("Complete", "R")])
    plan = decide(obj, None, [current], T0, digest=digest)
    assert not plan.fetch_template
    assert plan.status is not None
    assert (plan.status.state, plan.status.current_job_name) == ("Ready", "migrate-abcde")


def test_a_job_to_make_without_the_template_asks_for_it_and_does_nothing_else() -> None:
    obj, template = rj(generation=2)
    old = job("migrate-old01", ours(1, "older-template"), [true("Complete", "R")])
    # Nothing is released or written yet: the decision with the template does all of it.
    assert decide(obj, None, [old], T0, digest=template_hash(template)) == Plan(fetch_template=True)


def test_jobs_left_by_a_vanished_reactive_job_are_let_go() -> None:
    held = job("migrate-held1", ours(1, "h"))
    free = job("migrate-free1", ours(2, "h"), finalizers=["example.com/other"])
    bare = job("migrate-bare1", ours(3, "h"), finalizers=None)
    assert release_orphans([held, free, bare]) == Plan(release=("migrate-held1",))


# --- status and events -----------------------------------------------------------------------


def test_a_created_job_is_reported_in_status_and_as_a_normal_event() -> None:
    obj, template = rj()
    plan = decide(obj, template, [], T0)
    assert plan.status is not None
    assert plan.status.current_job_name == "migrate-87phg"
    stamped = {"lastTransitionTime": T0_WIRE, "lastUpdateTime": T0_WIRE}
    created = {"reason": "JobCreated", "message": "job created", **stamped}
    assert by_type(plan.status) == {
        ConditionType.READY: {"status": "Unknown", **created},
        ConditionType.RECONCILING: {"status": "True", **created},
    }
    assert plan.events == (
        Event("Normal", "JobCreated", "Created job migrate-87phg for generation 1"),
    )


def test_a_running_job_is_reported_as_waiting_for_it() -> None:
    obj, template = rj()
    plan = decide(obj, template, [job("migrate-87phg", ours(1, template_hash(template)))], T0)
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
    obj, template = rj()
    fresh = job("migrate-87phg", ours(1, template_hash(template)), conditions=None)
    assert fresh.status is None
    plan = decide(obj, template, [fresh], T0)
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
    obj, template = rj(status={"state": "Ready", "currentJobName": "migrate-older"})
    # Conditions that are not True (a resumed Job's Suspended=False) are passed over.
    conditions = [{"type": "Suspended", "status": "False", "reason": "JobResumed"}, finished]
    newest = job("migrate-87phg", ours(1, template_hash(template)), conditions)
    plan = decide(obj, template, [newest], T0)
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
    obj, template = rj()
    newest = job("migrate-87phg", ours(1, template_hash(template)), [true(kind)])
    plan = decide(obj, template, [newest], T0)
    for condition in by_type(plan.status).values():
        assert (condition["reason"], condition["message"]) == (reason, "")


def test_timestamps_follow_kubernetes_condition_conventions() -> None:
    obj, template = rj()
    created = decide(obj, template, [], T0)
    t1, t2 = T0 + datetime.timedelta(minutes=1), T0 + datetime.timedelta(minutes=2)
    t1_wire, t2_wire = "2026-11-26T12:01:00Z", "2026-11-26T12:02:00Z"

    # Same status, new reason: only lastUpdateTime moves.
    obj.status = created.status
    running_job = job("migrate-87phg", ours(1, template_hash(template)))
    running = decide(obj, template, [running_job], t1)
    for condition in by_type(running.status).values():
        assert condition["lastTransitionTime"] == T0_WIRE
        assert condition["lastUpdateTime"] == t1_wire

    # A new status: both move.
    obj.status = running.status
    done_job = job("migrate-87phg", ours(1, template_hash(template)), [true("Complete", "R")])
    done = decide(obj, template, [done_job], t2)
    assert by_type(done.status)[ConditionType.READY]["lastTransitionTime"] == t2_wire
    assert by_type(done.status)[ConditionType.READY]["lastUpdateTime"] == t2_wire


# --- requeues, finalizers, releases ------------------------------------------------------------


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
    obj, template = rj()
    newest = job("migrate-87phg", ours(1, template_hash(template)), job_conditions)
    assert decide(obj, template, [newest], T0).requeue_after == requeue


def test_a_new_job_is_rechecked() -> None:
    obj, template = rj()
    assert decide(obj, template, [], T0).requeue_after == 30.0


@pytest.mark.parametrize(("present", "add"), [((FINALIZER,), False), ((), True)])
def test_our_finalizer_is_added_once_also_when_the_job_exists(
    present: tuple[str, ...], add: bool
) -> None:
    obj, template = rj(finalizers=present)
    current = job("migrate-87phg", ours(1, template_hash(template)), [true("Complete", "R")])
    assert decide(obj, template, [current], T0).add_finalizer is add
    assert decide(obj, template, [], T0).add_finalizer is add


def test_deletion_blocked_says_why_and_is_rechecked() -> None:
    obj, template = rj(
        finalizers=(FINALIZER, "example.com/hold"),
        deletion_timestamp=DELETED_AT,
        status={"state": "Ready", "currentJobName": "migrate-87phg"},
    )
    plan = decide(obj, template, [job("migrate-87phg", ours(1, "h"))], T0)
    assert plan.requeue_after == 5.0
    assert plan.status is not None
    assert plan.status.current_job_name == "migrate-87phg"
    ready = by_type(plan.status)[ConditionType.READY]
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "Unknown",
        "DeletionBlocked",
        "Deletion blocked due to foreign finalizers",
    )


def test_deleting_keeps_naming_the_newest_job_and_is_rechecked() -> None:
    obj, template = rj(
        deletion_timestamp=DELETED_AT,
        status={"state": "Ready", "currentJobName": "migrate-87phg"},
    )
    plan = decide(obj, template, [job("migrate-87phg", ours(1, "h"))], T0)
    assert plan.status is not None
    assert (plan.status.state, plan.status.current_job_name) == ("Deleting", "migrate-87phg")
    assert (
        by_type(plan.status)[ConditionType.READY]["message"]
        == "waiting for deletion of dependent jobs"
    )
    assert plan.requeue_after == 5.0


# --- the rejection backoff -------------------------------------------------------------------


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


@pytest.mark.parametrize(("elapsed", "wait"), [(REJECTED_RETRY - 1, 1.0), (REJECTED_RETRY, None)])
def test_a_rejected_template_is_retried_once_the_backoff_has_passed(
    elapsed: float, wait: float | None
) -> None:
    obj, template = rj(status=rejected_at(T0_WIRE))
    plan = decide(obj, template, [], T0 + datetime.timedelta(seconds=elapsed))
    assert (plan.create is None, plan.requeue_after) == (
        (True, wait) if wait is not None else (False, 30.0)
    )


def test_superseded_jobs_are_released_while_a_rejected_template_waits() -> None:
    # The old template's Job is superseded whether or not the new one could be created.
    obj, template = rj(generation=2, status=rejected_at(T0_WIRE, generation=2))
    old = job("migrate-old01", ours(1, "older-template"), [true("Complete", "R")])
    plan = decide(obj, template, [old], T0 + datetime.timedelta(seconds=10))
    assert plan.create is None
    assert plan.release == ("migrate-old01",)


def test_a_failed_job_is_not_a_rejection_and_causes_no_backoff() -> None:
    # Its Job was removed by hand: a failed run is no reason to wait before running again.
    failed = {"reason": "BackoffLimitExceeded", "message": "m", "lastTransitionTime": T0_WIRE}
    obj, template = rj(
        status={
            "observedGeneration": 1,
            "state": "Error",
            "conditions": [
                {"type": ConditionType.READY, "status": "False", **failed},
                {"type": ConditionType.STALLED, "status": "True", **failed},
            ],
        }
    )
    plan = decide(obj, template, [], T0 + datetime.timedelta(seconds=10))
    assert created_name(plan) == "migrate-87phg"


# --- writing the status only when it changed --------------------------------------------------


def test_same_status_compares_what_would_be_written() -> None:
    obj, template = rj()
    written = decide(obj, template, [], T0).status
    assert written is not None
    again = ReactiveJobStatus.model_validate(written.model_dump(by_alias=True, mode="json"))
    assert same_status(again, written)
    # Nothing stored yet: the first status is always written.
    assert not same_status(None, written)
    moved = decide(obj, template, [], T0 + datetime.timedelta(seconds=1)).status
    assert moved is not None
    assert not same_status(written, moved)

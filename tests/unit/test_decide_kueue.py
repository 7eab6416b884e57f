"""``decide()`` beside Kueue and the Job API of Kubernetes 1.31+: Jobs whose ``spec.suspend`` is
another's to write, Kueue's Queued, Admitted and Evicted, the early SuccessCriteriaMet and
FailureTarget, ``status.terminating``, ``failedIndexes`` and ``spec.managedBy``."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from reactivejob.core.decide import Plan, decide
from reactivejob.core.kueue import PRIORITY_CLASS, QUEUE_NAME, Admission, KueueView
from reactivejob.core.naming import template_hash
from reactivejob_api.models import Job
from reactivejob_api.vocabulary import ANNOTATION_HELD, State
from tests.samples import simple_template
from tests.unit.builders import (
    NOW,
    OLD,
    annotations_of,
    by_type,
    created,
    decided,
    history,
    job,
    rj,
    true,
)

QUEUED_TEMPLATE = simple_template()
QUEUED_TEMPLATE["metadata"] = {"labels": {QUEUE_NAME: "team-a", PRIORITY_CLASS: "low"}}
QUEUED_DIGEST = template_hash(QUEUED_TEMPLATE)
MANAGED_TEMPLATE = copy.deepcopy(simple_template())
MANAGED_TEMPLATE["spec"]["managedBy"] = "kueue.x-k8s.io/multikueue"

# The three ways a Job's suspend is not ours: (template, what decide() knows of Kueue).
NOT_OURS = {
    "queue-name label": (QUEUED_TEMPLATE, KueueView()),
    "manageJobsWithoutQueueName": (simple_template(), KueueView(manages_all=True)),
    "spec.managedBy": (MANAGED_TEMPLATE, KueueView()),
}


def _decided(
    policy: str, template: dict[str, Any], jobs: list[Job], kueue: KueueView, **spec: Any
) -> Plan:
    return decide(rj(2, template=template, spec={"concurrencyPolicy": policy, **spec}),
                  template, jobs, NOW, kueue=kueue)  # fmt: skip


def _queued_job(name: str, digest: str = QUEUED_DIGEST, **changes: Any) -> Job:
    """A Job of the queued template as Kueue's webhook left it: suspended, not by us."""
    made = job(name, 2, digest)
    assert made.metadata is not None and made.spec is not None
    made.metadata.labels = {QUEUE_NAME: "team-a"}
    made.spec.suspend = changes.pop("suspend", True)
    for key, value in changes.items():
        setattr(made, key, value)
    return made


@pytest.mark.parametrize("way", sorted(NOT_OURS))
def test_forbid_makes_no_job_while_an_older_one_may_run_when_its_suspend_is_not_ours(
    way: str,
) -> None:
    template, kueue = NOT_OURS[way]
    older = job("migrate-old", 1, OLD, state="running")
    waiting = _decided("Forbid", template, [older], kueue)
    assert waiting.create is None and waiting.resume is None and waiting.delete == ()
    ready = by_type(waiting.status)["Ready"]
    assert ready["reason"] == "WaitingForPreviousRun" and "migrate-old" in ready["message"]
    assert not history(waiting)  # nothing of the run is recorded until its Job is made
    finished = job("migrate-old", 1, OLD, state="Complete")
    made = created(_decided("Forbid", template, [finished], kueue))
    assert not (made.spec and made.spec.suspend)  # Kueue's webhook suspends it, never us
    assert ANNOTATION_HELD not in annotations_of(made)


@pytest.mark.parametrize("way", sorted(NOT_OURS))
def test_replace_deletes_the_older_job_and_makes_the_new_one_once_it_is_gone(way: str) -> None:
    template, kueue = NOT_OURS[way]
    older = job("migrate-old", 1, OLD, state="running")
    replacing = _decided("Replace", template, [older], kueue)
    assert replacing.delete == ("migrate-old",) and replacing.create is None
    # Still the newest Job, but deleted: our finalizer goes too, or the deletion never ends.
    assert replacing.release == ("migrate-old",)
    going = older.model_copy(deep=True)
    assert going.metadata is not None
    going.metadata.deletion_timestamp = "2026-11-26T12:00:00Z"
    still = _decided("Replace", template, [going], kueue)
    assert still.delete == () and still.create is None  # deleted once, then waited for
    made = created(_decided("Replace", template, [], kueue))
    assert not (made.spec and made.spec.suspend)


def test_without_kueue_the_same_template_label_means_nothing_and_the_job_is_held() -> None:
    """The label is Kueue's; without it (and without Kueue's setting) nothing changes."""
    older = job("migrate-old", 1, OLD, state="running")
    held = created(_decided("Forbid", simple_template(), [older], KueueView()))
    assert held.spec is not None and held.spec.suspend is True


def test_the_queue_name_and_priority_labels_reach_the_job() -> None:
    made = created(_decided("Allow", QUEUED_TEMPLATE, [], KueueView()))
    assert made.metadata is not None and made.metadata.labels is not None
    assert made.metadata.labels[QUEUE_NAME] == "team-a"
    assert made.metadata.labels[PRIORITY_CLASS] == "low"
    assert (
        history(decide(rj(template=QUEUED_TEMPLATE), QUEUED_TEMPLATE, [], NOW))[0]["result"]
        == "Waiting"
    )


def _state(plan: Plan) -> tuple[str | None, str, str]:
    assert plan.status is not None
    ready = by_type(plan.status)["Ready"]
    return plan.status.state, ready["reason"], ready["message"]


def test_a_queued_job_reads_queued_with_kueues_words_and_reconciling() -> None:
    queued = _queued_job("migrate-new")
    waiting = "couldn't assign flavors to pod set main: insufficient unused quota for cpu"
    kueue = KueueView(workloads={"migrate-new": Admission(waiting=waiting)})
    plan = decide(rj(2, template=QUEUED_TEMPLATE), QUEUED_TEMPLATE, [queued], NOW, kueue=kueue)
    state, reason, message = _state(plan)
    assert (state, reason) == (State.QUEUED, "Queued")
    assert "LocalQueue team-a" in message and message.endswith(waiting)
    conditions = by_type(plan.status)
    assert conditions["Reconciling"]["status"] == "True" and "Stalled" not in conditions
    assert plan.resume is None  # never ours to unsuspend


def test_an_evicted_job_reads_evicted_with_kueues_reason_not_failed() -> None:
    evicted = _queued_job("migrate-new")
    preempted = "Preempted to accommodate a workload due to prioritization in the ClusterQueue"
    kueue = KueueView(workloads={"migrate-new": Admission(evicted=("Preempted", preempted))})
    plan = decide(rj(2, template=QUEUED_TEMPLATE), QUEUED_TEMPLATE, [evicted], NOW, kueue=kueue)
    state, reason, message = _state(plan)
    assert (state, reason) == (State.EVICTED, "Preempted") and preempted in message
    assert "Stalled" not in by_type(plan.status) and plan.finished is None
    assert plan.create is None and plan.delete == () and plan.resume is None


def test_an_admitted_job_reads_admitted_and_runs() -> None:
    running = job("migrate-new", 2, QUEUED_DIGEST, state="running")
    assert running.metadata is not None
    running.metadata.labels = {QUEUE_NAME: "team-a"}
    kueue = KueueView(workloads={"migrate-new": Admission(admitted=True, cluster_queue="batch")})
    plan = decide(rj(2, template=QUEUED_TEMPLATE), QUEUED_TEMPLATE, [running], NOW, kueue=kueue)
    state, reason, message = _state(plan)
    assert (state, reason) == (State.PROCESSING, "Admitted") and "ClusterQueue batch" in message


def test_a_running_labelled_job_is_not_called_admitted_without_its_workloads_word() -> None:
    """Without --kueue (or before Kueue made its Workload) the label proves no admission."""
    running = job("migrate-new", 2, QUEUED_DIGEST, state="running")
    assert running.metadata is not None
    running.metadata.labels = {QUEUE_NAME: "team-a"}
    plan = decide(rj(2, template=QUEUED_TEMPLATE), QUEUED_TEMPLATE, [running], NOW)
    assert _state(plan)[:2] == (State.PROCESSING, "JobRunning")


def test_suspending_the_reactive_job_leaves_a_queued_job_and_holds_by_not_creating() -> None:
    queued = _queued_job("migrate-new")
    suspended = rj(2, template=QUEUED_TEMPLATE, spec={"suspend": True})
    plan = decide(suspended, QUEUED_TEMPLATE, [queued], NOW)
    assert plan.create is None and plan.delete == () and plan.prune == () and plan.resume is None
    assert by_type(plan.status)["Suspended"]["status"] == "True"
    changed = copy.deepcopy(QUEUED_TEMPLATE)
    changed["spec"]["backoffLimit"] = 5
    later = decide(rj(3, template=changed, spec={"suspend": True}), changed, [queued], NOW)
    assert later.create is None and later.delete == ()
    assert later.status is not None and later.status.state == State.SUSPENDED


def test_forbid_waits_for_an_older_queued_job_to_run_and_finish() -> None:
    """A queued Job has no Pods, but Kueue admits it at any moment: the next run waits."""
    queued = _queued_job("migrate-old", OLD)
    plan = _decided("Forbid", QUEUED_TEMPLATE, [queued], KueueView())
    assert plan.create is None


# The Job API since 1.31


def test_failure_target_records_the_run_failed_at_once_but_forbid_still_waits() -> None:
    limit = "Job has reached the specified backoff limit"
    failing = job(
        "migrate-new", 2, conditions=[true("FailureTarget", "BackoffLimitExceeded", limit)]
    )
    assert failing.status is not None
    failing.status.active = 1  # its last Pod is still terminating
    plan = decided(rj(2), simple_template(), [failing], NOW)
    assert history(plan)[0]["result"] == "Failed"
    assert history(plan)[0]["reason"] == "BackoffLimitExceeded"
    assert plan.status is not None and plan.status.state == State.ERROR
    assert plan.finished is not None and plan.prune == ()
    changed = copy.deepcopy(simple_template())
    changed["spec"]["backoffLimit"] = 5
    digest = template_hash(simple_template())
    old = job("migrate-new", 2, digest, conditions=[true("FailureTarget", "BackoffLimitExceeded")])
    nxt = decide(rj(3, template=changed, spec={"concurrencyPolicy": "Forbid"}), changed, [old], NOW)
    held = created(nxt)
    assert held.spec is not None and held.spec.suspend is True  # held until Failed is True


def test_success_criteria_met_records_success_at_once() -> None:
    done = job("migrate-new", 1, conditions=[true("SuccessCriteriaMet", "SuccessPolicy",
                                                  "Matched rules at index 0")])  # fmt: skip
    plan = decide(rj(1), simple_template(), [done], NOW)
    assert history(plan)[0]["result"] == "Succeeded"
    assert plan.status is not None and plan.status.state == State.READY


def test_a_finished_job_whose_pods_still_terminate_holds_the_next_run() -> None:
    finished = job("migrate-old", 1, OLD, state="Complete")
    assert finished.status is not None
    finished.status.terminating = 1
    spec = {"concurrencyPolicy": "Forbid"}
    held = created(decide(rj(2, spec=spec), simple_template(), [finished], NOW))
    assert held.spec is not None and held.spec.suspend is True
    finished.status.terminating = 0
    free = created(decide(rj(2, spec=spec), simple_template(), [finished], NOW))
    assert not (free.spec and free.spec.suspend)


def test_failed_indexes_and_the_job_controllers_reason_reach_status_event_and_history() -> None:
    failed = job("migrate-new", 1, state="Failed", conditions=[])
    assert failed.status is not None and failed.status.conditions is not None
    failed.status.conditions[0].reason = "FailedIndexes"
    failed.status.conditions[0].message = "Job has failed indexes"
    failed.status.failed_indexes = "1,3-4"
    plan = decided(rj(1), simple_template(), [failed], NOW)
    expected = "Job has failed indexes (failed indexes: 1,3-4)"
    assert by_type(plan.status)["Stalled"]["message"] == expected
    assert (history(plan)[0]["reason"], history(plan)[0]["message"]) == ("FailedIndexes", expected)
    (event,) = [e for e in plan.events if e.reason == "JobFailed"]
    assert "FailedIndexes" in event.message and "1,3-4" in event.message


def test_a_job_managed_elsewhere_mirrors_the_status_copied_back() -> None:
    remote = job("migrate-new", 1, template_hash(MANAGED_TEMPLATE),
                 conditions=[true("Complete", "CompletionsReached")])  # fmt: skip
    assert remote.spec is not None
    remote.spec.managed_by = "kueue.x-k8s.io/multikueue"
    plan = decide(rj(1, template=MANAGED_TEMPLATE), MANAGED_TEMPLATE, [remote], NOW)
    assert plan.status is not None and plan.status.state == State.READY
    assert plan.resume is None and plan.delete == ()

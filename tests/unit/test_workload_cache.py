"""Kueue's Workloads as the Workload cache keeps them: the Admission their conditions spell, in
the shapes Kueue v0.17 writes them (recorded on the real node by tests/e2e), and the
ReactiveJob a change queues."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from reactivejob.core.kueue import Admission
from reactivejob.engine.workload_cache import WorkloadCache, workload_entry

PREEMPTED = (
    "Preempted to accommodate a workload (UID: 1, JobUID: 2) due to prioritization in the "
    "ClusterQueue; preemptor path: /batch; preemptee path: /batch"
)
PENDING = (
    "couldn't assign flavors to pod set main: insufficient unused quota for cpu in flavor "
    "default, 100m more needed"
)


def workload(*conditions: tuple[str, str, str, str], job: str = "migrate-rn8xz") -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"job-{job}-3f2a1",
            "namespace": "team-a",
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": job,
                    "uid": "u",
                    "controller": True,
                }
            ],
        },
        "status": {
            "admission": {"clusterQueue": "batch"},
            "conditions": [
                {"type": t, "status": s, "reason": r, "message": m} for t, s, r, m in conditions
            ],
        },
    }


ADMITTED = (
    ("QuotaReserved", "True", "QuotaReserved", "Quota reserved in ClusterQueue batch"),
    ("Admitted", "True", "Admitted", "The workload is admitted"),
)


def test_kueues_conditions_through_a_preemption_read_as_its_states() -> None:
    pending = workload(("QuotaReserved", "False", "Pending", PENDING))
    assert workload_entry(pending).admission == Admission(waiting=PENDING, cluster_queue="batch")
    admitted = workload_entry(workload(*ADMITTED)).admission
    assert admitted.admitted and admitted.evicted is None
    # Kueue marks Evicted first, while Admitted is still True (about 0.4 s): still admitted.
    marked = workload(*ADMITTED, ("Evicted", "True", "Preempted", PREEMPTED))
    assert workload_entry(marked).admission.evicted is None
    evicted = workload(
        ("QuotaReserved", "False", "Pending", PREEMPTED),
        ("Admitted", "False", "NoReservation", "The workload has no reservation"),
        ("Evicted", "True", "Preempted", PREEMPTED),
        ("Requeued", "True", "Preempted", PREEMPTED),
    )
    assert workload_entry(evicted).admission.evicted == ("Preempted", PREEMPTED)
    again = workload(*ADMITTED, ("Evicted", "False", "QuotaReserved", f"Previously: {PREEMPTED}"))
    assert workload_entry(again).admission == Admission(admitted=True, cluster_queue="batch")


def test_a_workload_of_another_kind_names_no_job() -> None:
    raw = workload(*ADMITTED)
    raw["metadata"]["ownerReferences"][0]["kind"] = "JobSet"
    raw["metadata"]["ownerReferences"][0]["apiVersion"] = "jobset.x-k8s.io/v1alpha2"
    assert workload_entry(raw).job is None


# No informer runs here: the index is fed as the informer feeds it.
NO_CLIENTS = SimpleNamespace(watching=SimpleNamespace(workloads=None))


def test_a_change_queues_the_reactive_job_of_its_job_and_only_a_real_change() -> None:
    queued: list[tuple[str, str]] = []
    owners = {("team-a", "migrate-rn8xz"): "migrate"}
    cache = WorkloadCache(NO_CLIENTS, ["team-a"], owners.get, queued.append)  # type: ignore[arg-type]
    key = ("team-a", "job-migrate-rn8xz-3f2a1")
    first = workload_entry(workload(("QuotaReserved", "False", "Pending", PENDING)))
    cache._changed(key, None, first)
    assert queued == [("team-a", "migrate")]
    cache._changed(
        key, first, workload_entry(workload(("QuotaReserved", "False", "Pending", PENDING)))
    )
    assert queued == [("team-a", "migrate")]  # the same admission: nothing to decide again
    admitted = workload_entry(workload(*ADMITTED))
    cache._changed(key, first, admitted)
    assert cache.admissions("team-a", ["migrate-rn8xz", "other"]) == {
        "migrate-rn8xz": admitted.admission
    }
    assert queued == [("team-a", "migrate")] * 2
    cache._changed(key, admitted, None)
    assert cache.admissions("team-a", ["migrate-rn8xz"]) == {}

"""Jobs whose ``spec.suspend`` belongs to someone else: Kueue's, and those another controller
runs (``spec.managedBy``), and what Kueue's Workloads say of them.

Kueue's webhook creates a Job suspended when it has the queue-name label (or, with Kueue's
``manageJobsWithoutQueueName``, any Job); its reconciler unsuspends the Job when its Workload is
admitted and suspends it again on eviction. A parent that toggles ``spec.suspend`` as well
fights it (kueue #1726), so on such a Job the operator never writes it: run control holds a run
by not creating its Job instead. A Job with ``spec.managedBy`` is run by another controller
(MultiKueue runs it on a worker cluster and copies its status back): the job controller leaves
it alone, and so does the operator, apart from reading its status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from reactivejob_api.models import Job
from reactivejob_api.vocabulary import State

from .objects import name_of
from .status import Outcome

QUEUE_NAME = "kueue.x-k8s.io/queue-name"
PRIORITY_CLASS = "kueue.x-k8s.io/priority-class"
JOB_CONTROLLER = "kubernetes.io/job-controller"  # spec.managedBy's default


@dataclass(frozen=True)
class Admission:
    """What Kueue's Workload for one Job says, read from its conditions."""

    admitted: bool = False
    evicted: tuple[str, str] | None = None  # Evicted=True and not admitted: (reason, message)
    waiting: str = ""  # QuotaReserved=False: why it is not admitted yet (Kueue's words)
    cluster_queue: str = ""


@dataclass(frozen=True)
class KueueView:
    """What decide() knows of Kueue. ``manages_all``: Kueue's manageJobsWithoutQueueName, so
    every Job is Kueue's. ``workloads``: by Job name, with ``--kueue`` (else empty, and a queued
    Job reads Queued whether or not it was evicted before)."""

    manages_all: bool = False
    workloads: Mapping[str, Admission] = field(default_factory=dict)

    def queued(self, job: Job) -> bool:
        """Kueue suspends it until admitted, and again on eviction."""
        labels = (job.metadata.labels if job.metadata else None) or {}
        return self.manages_all or QUEUE_NAME in labels

    def owns_no_suspend(self, job: Job) -> bool:
        """Its ``spec.suspend`` is another's to write: Kueue's, or the controller it names in
        ``spec.managedBy``."""
        return self.queued(job) or managed_elsewhere(job)


NO_KUEUE = KueueView()


def managed_elsewhere(job: Job) -> bool:
    managed_by = job.spec.managed_by if job.spec else None
    return managed_by is not None and managed_by != JOB_CONTROLLER


def queue_of(job: Job) -> str:
    labels = (job.metadata.labels if job.metadata else None) or {}
    return labels.get(QUEUE_NAME, "")


def admission_of(
    conditions: Mapping[str, tuple[str, str, str]], cluster_queue: str = ""
) -> Admission:
    """``conditions``: a Workload's, by type: (status, reason, message)."""
    admitted = conditions.get("Admitted", ("", "", ""))[0] == "True"
    evicted = conditions.get("Evicted")
    quota = conditions.get("QuotaReserved")
    return Admission(
        admitted=admitted,
        evicted=(evicted[1], evicted[2])
        if evicted and evicted[0] == "True" and not admitted
        else None,
        waiting=quota[2] if quota and quota[0] == "False" else "",
        cluster_queue=cluster_queue,
    )


def queue_outcome(job: Job, admission: Admission | None, running: Outcome) -> Outcome:
    """The state of a Kueue-managed Job that has not finished: Queued until admitted, Evicted
    (with Kueue's reason) once preempted or evicted until admitted again, Admitted while it
    runs by its Workload's word, else ``running`` (Kueue's Workloads are not watched, or
    Kueue has not made one: the label alone proves no admission)."""
    name = name_of(job)
    if not (job.spec and job.spec.suspend):
        if admission is None or not admission.admitted:
            return running
        where = f" to ClusterQueue {admission.cluster_queue}" if admission.cluster_queue else ""
        return Outcome(
            State.PROCESSING, "Admitted", f"job {name} was admitted by Kueue{where} and runs", name
        )
    if admission is not None and admission.evicted is not None:
        reason, message = admission.evicted
        return Outcome(
            State.EVICTED,
            reason or "Evicted",
            f"job {name} was evicted by Kueue: {message}; it runs again once admitted",
            name,
        )
    waiting = f": {admission.waiting}" if admission is not None and admission.waiting else ""
    queue = queue_of(job)
    where = f"LocalQueue {queue}" if queue else "its LocalQueue"
    return Outcome(
        State.QUEUED, "Queued", f"job {name} waits in {where} for admission by Kueue{waiting}", name
    )

"""Kueue's Workloads of the watched namespaces (``--kueue``): whether each Job is queued,
admitted or evicted, for the status.

Kueue makes one Workload per Job it manages, controlled by that Job. Each is kept as the
Admission its conditions spell and the name of its Job, nothing else; a change queues the
ReactiveJob that made the Job (found through the Job cache), and a change of anything else
(Kueue rewrites a Workload's status often: requeue counts, resource usage) queues nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from reactivejob.core.kueue import NO_KUEUE, Admission, KueueView, admission_of

from .clients import ApiClients
from .informer import Informer, Key

NOT_SERVED = (
    "the API server does not serve kueue.x-k8s.io/v1beta2 workloads: install a Kueue that "
    "serves them (tested with v0.17.0), or turn --kueue off (kueue.enabled in the chart); Jobs "
    "with a queue-name label still run without it, but a queued run cannot be told from an "
    "evicted one"
)


@dataclass(frozen=True, slots=True)
class CachedWorkload:
    job: str | None  # the Job that controls it; None for Workloads of other kinds
    admission: Admission


def workload_entry(raw: dict[str, Any], _previous: CachedWorkload | None = None) -> CachedWorkload:
    meta = raw.get("metadata") or {}
    job = next(
        (
            ref.get("name")
            for ref in meta.get("ownerReferences") or []
            if ref.get("controller") and ref.get("kind") == "Job"
            and str(ref.get("apiVersion", "")).startswith("batch/")
        ),
        None,
    )  # fmt: skip
    status = raw.get("status") or {}
    conditions = {
        str(c.get("type")): (str(c.get("status")), c.get("reason") or "", c.get("message") or "")
        for c in status.get("conditions") or []
    }
    cluster_queue = str((status.get("admission") or {}).get("clusterQueue") or "")
    return CachedWorkload(job, admission_of(conditions, cluster_queue))


class WorkloadCache:
    def __init__(
        self,
        clients: ApiClients,
        namespaces: Sequence[str],
        owner_of: Callable[[Key], str | None],
        on_change: Callable[[Key], None],
    ) -> None:
        """``owner_of``: the ReactiveJob a Job (namespace, name) was made for, if cached."""
        self._owner_of = owner_of
        self._on_change = on_change
        scopes: list[str | None] = list(namespaces) or [None]
        self._informers = {
            ns: Informer(
                clients.watching.workloads, ns, workload_entry, self._changed, not_served=NOT_SERVED
            )
            for ns in scopes
        }
        self._by_job: dict[Key, Admission] = {}  # (namespace, Job name) -> its Workload's word

    @property
    def informers(self) -> list[Informer[Any]]:
        return list(self._informers.values())

    def admissions(self, namespace: str, jobs: Iterable[str]) -> dict[str, Admission]:
        """What the Workloads of these Jobs say, by Job name (a Job without one is left out)."""
        found = ((name, self._by_job.get((namespace, name))) for name in jobs)
        return {name: admission for name, admission in found if admission is not None}

    def _changed(self, key: Key, old: CachedWorkload | None, new: CachedWorkload | None) -> None:
        namespace = key[0]
        if old is not None and old.job is not None:
            self._by_job.pop((namespace, old.job), None)
        if new is not None and new.job is not None:
            self._by_job[(namespace, new.job)] = new.admission
        if old == new:
            return
        for job in {w.job for w in (old, new) if w is not None and w.job is not None}:
            owner = self._owner_of((namespace, job))
            if owner is not None:
                self._on_change((namespace, owner))


@dataclass(frozen=True)
class KueueSource:
    """What a reconcile tells decide() of Kueue: the operator's setting, and the Workloads."""

    workloads: WorkloadCache | None = None
    manages_all: bool = False

    def view(self, namespace: str, jobs: Iterable[str]) -> KueueView:
        if self.workloads is None:
            return KueueView(manages_all=True) if self.manages_all else NO_KUEUE
        return KueueView(self.manages_all, self.workloads.admissions(namespace, jobs))

"""Real Kueue beside the real node: plain batch/v1 Jobs queued, admitted one at a time, and a
low-priority Job preempted by a high one and admitted again. This proves the test bed's Kueue
(testbed.kueue) before any operator test leans on it, and records what Kueue does to Jobs and
Workloads (printed at the end: run with -s to read it). The file name orders it after
test_operator_on_node, so Kueue's webhooks (the fixture lives for the rest of the tier) are
not in the way of the tests that run without Kueue.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client, watch

from testbed.kueue import (
    GROUP,
    PRIORITY_CLASS_LABEL,
    QUEUE_LABEL,
    VERSION,
    Kueue,
    create_cluster_queue,
    create_local_queue,
    workload_of,
)
from tests.e2e.templates import busybox, plain_job
from tests.integration.kube_helpers import as_json, eventually, manifest

pytestmark = pytest.mark.timeout(900)

LOCAL_QUEUE = "queue"


def queued_job(name: str, seconds: int, priority: str | None = None) -> dict[str, Any]:
    """A Job for the LocalQueue, asking cpu 100m (the ClusterQueue's whole quota)."""
    labels = {QUEUE_LABEL: LOCAL_QUEUE}
    if priority is not None:
        labels[PRIORITY_CLASS_LABEL] = priority
    return plain_job(name, busybox(f"sleep {seconds}", labels=labels, cpu="100m"))


class Recorder:
    """Every change Kueue and the job controller make to the namespace's Jobs and Workloads,
    as (seconds since start, kind, name, what changed), from two watches."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.api = api
        self.namespace = namespace
        self.started = time.monotonic()
        self.entries: list[tuple[float, str, str, dict[str, Any]]] = []
        self._last: dict[tuple[str, str], dict[str, Any]] = {}
        self._watches: list[watch.Watch] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def start(self) -> Recorder:
        batch, objects = client.BatchV1Api(self.api), client.CustomObjectsApi(self.api)
        for kind, lister, args, summary in (
            ("Job", batch.list_namespaced_job, (self.namespace,), _job_summary),
            (
                "Workload",
                objects.list_namespaced_custom_object,
                (GROUP, VERSION, self.namespace, "workloads"),
                _workload_summary,
            ),
        ):
            stream = watch.Watch()  # type: ignore[no-untyped-call]
            self._watches.append(stream)
            threading.Thread(
                target=self._follow, args=(stream, kind, lister, args, summary), daemon=True
            ).start()
        return self

    def _follow(
        self,
        stream: watch.Watch,
        kind: str,
        lister: Callable[..., Any],
        args: tuple[Any, ...],
        summary: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> None:
        events = stream.stream(lister, *args, timeout_seconds=900)  # type: ignore[no-untyped-call]
        try:
            for event in events:
                raw = event["object"]
                obj = raw if isinstance(raw, dict) else as_json(raw, self.api)
                self._note(kind, obj["metadata"]["name"], summary(obj), event["type"])
        except Exception:
            # A stopped watch ends on its next event or when the API server goes away.
            if not self._stopped.is_set():
                raise

    def _note(self, kind: str, name: str, now: dict[str, Any], event: str) -> None:
        if event == "DELETED":
            now = {"deleted": True}
        with self._lock:
            if self._last.get((kind, name)) != now:
                self._last[(kind, name)] = now
                self.entries.append((time.monotonic() - self.started, kind, name, now))

    def stop(self) -> None:
        self._stopped.set()
        for stream in self._watches:
            stream.stop()  # type: ignore[no-untyped-call]

    def report(self) -> str:
        with self._lock:
            return "\n".join(f"{t:7.2f}s {k:8} {n}: {s}" for t, k, n, s in self.entries)


def _kueue_keys(mapping: dict[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (mapping or {}).items() if "kueue" in k}


def _job_summary(job: dict[str, Any]) -> dict[str, Any]:
    spec, status = job["spec"], job.get("status") or {}
    template = spec["template"]
    return {
        "suspend": spec.get("suspend"),
        "labels": _kueue_keys(job["metadata"].get("labels")),
        "annotations": _kueue_keys(job["metadata"].get("annotations")),
        "finalizers": job["metadata"].get("finalizers"),
        "template": {
            "labels": _kueue_keys(template["metadata"].get("labels")),
            "annotations": _kueue_keys(template["metadata"].get("annotations")),
            "nodeSelector": template["spec"].get("nodeSelector"),
            "tolerations": template["spec"].get("tolerations"),
        },
        "startTime": status.get("startTime"),
        "active": status.get("active"),
        "terminating": status.get("terminating"),
        "conditions": [
            (c["type"], c["status"], c.get("reason"))
            for c in status.get("conditions") or []
            if c["status"] == "True"
        ],
    }


def _workload_summary(workload: dict[str, Any]) -> dict[str, Any]:
    status, meta = workload.get("status") or {}, workload["metadata"]
    return {
        "labels": meta.get("labels"),
        "annotations": meta.get("annotations"),
        "finalizers": meta.get("finalizers"),
        "owner": [(o["kind"], o["name"], o.get("controller")) for o in meta["ownerReferences"]],
        "queueName": workload["spec"].get("queueName"),
        "active": workload["spec"].get("active"),
        "priority": (workload["spec"].get("priority"), workload["spec"].get("priorityClassRef")),
        "admittedTo": (status.get("admission") or {}).get("clusterQueue"),
        "requeueState": status.get("requeueState"),
        "conditions": [
            (c["type"], c["status"], c["reason"], c["message"])
            for c in status.get("conditions") or []
        ],
    }


def conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}


class Queued:
    """Reads of one namespace's Jobs, their Pods and their Workloads."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.api, self.namespace = api, namespace
        self.batch, self.core = client.BatchV1Api(api), client.CoreV1Api(api)

    def create(self, name: str, seconds: int, priority: str | None = None) -> dict[str, Any]:
        body = manifest(queued_job(name, seconds, priority))
        return as_json(self.batch.create_namespaced_job(self.namespace, body), self.api)

    def job(self, name: str) -> dict[str, Any]:
        return as_json(self.batch.read_namespaced_job(name, self.namespace), self.api)

    def pods(self, name: str) -> list[dict[str, Any]]:
        listed = self.core.list_namespaced_pod(self.namespace, label_selector=f"job-name={name}")
        items: list[dict[str, Any]] = as_json(listed, self.api)["items"]
        return items

    def complete(self, name: str) -> dict[str, Any] | None:
        job = self.job(name)
        return job if conditions(job).get("Complete", {}).get("status") == "True" else None

    def running_pod(self, name: str) -> dict[str, Any] | None:
        return next((p for p in self.pods(name) if p["status"].get("phase") == "Running"), None)

    def terminated(self, name: str) -> dict[str, Any]:
        """The finished container's state of the Job's (only) Pod: startedAt, finishedAt."""
        state: dict[str, Any] = self.pods(name)[0]["status"]["containerStatuses"][0]["state"]
        return state["terminated"]  # type: ignore[no-any-return]

    def workload(self, name: str) -> dict[str, dict[str, Any]]:
        """The conditions of the Job's Workload, by type."""
        found = workload_of(self.api, self.namespace, self.job(name)["metadata"]["uid"])
        assert found is not None, f"no Workload for Job {name}"
        return conditions(found)


def test_kueue_queues_real_jobs_and_preempts_for_priority(
    kueue: Kueue, kube: client.ApiClient, namespace: str
) -> None:
    create_cluster_queue(kube, namespace, cpu="100m")
    create_local_queue(kube, namespace, LOCAL_QUEUE, namespace)
    jobs = Queued(kube, namespace)
    recorder = Recorder(kube, namespace).start()
    try:
        # Two Jobs, one quota: both suspended at create by Kueue's webhook, run one at a time.
        for name in ("first", "second"):
            assert jobs.create(name, 3)["spec"]["suspend"] is True
        eventually(lambda: jobs.complete("first") and jobs.complete("second"), 120, "both done")
        assert jobs.terminated("first")["finishedAt"] <= jobs.terminated("second")["startedAt"]
        for name in ("first", "second"):
            assert jobs.workload(name)["Admitted"]["status"] == "True"
            assert jobs.workload(name)["Finished"]["status"] == "True"

        # A long low-priority Job runs; a high one takes its quota; the low one comes back.
        jobs.create("low", 600, "low")
        low_pod = eventually(lambda: jobs.running_pod("low"), 120, "the low Job's Pod running")
        jobs.create("high", 3, "high")

        def preempted() -> dict[str, Any] | None:
            evicted = jobs.workload("low").get("Evicted") or {}
            return evicted if evicted.get("status") == "True" else None

        assert eventually(preempted, 60, "the low Job evicted")["reason"] == "Preempted"
        eventually(lambda: jobs.job("low")["spec"]["suspend"], 30, "the low Job suspended")
        eventually(lambda: jobs.complete("high"), 120, "the high Job complete")

        def readmitted() -> dict[str, Any] | None:
            pod = jobs.running_pod("low")
            return pod if pod and jobs.job("low")["spec"]["suspend"] is False else None

        again = eventually(readmitted, 120, "the low Job admitted and running again")
        assert again["metadata"]["uid"] != low_pod["metadata"]["uid"]
        assert jobs.terminated("high")["finishedAt"] <= again["status"]["startTime"]
        back = jobs.workload("low")
        assert back["QuotaReserved"]["status"] == back["Admitted"]["status"] == "True"
    finally:
        recorder.stop()
        print(f"\n--- Kueue timeline in {namespace}\n{recorder.report()}")
    # The ClusterQueue goes once nothing it admitted is left (Kueue's finalizer waits for that).
    jobs.batch.delete_namespaced_job("low", namespace, propagation_policy="Background")
    client.CustomObjectsApi(kube).delete_cluster_custom_object(
        GROUP, VERSION, "clusterqueues", namespace
    )
    kueue.check_running()

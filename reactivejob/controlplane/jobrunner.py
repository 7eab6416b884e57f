"""The kubelet's stand-in: drives Job status from an annotation, since no Pods ever run here.

A Job (usually through its ReactiveJob's ``jobTemplate.metadata.annotations``) asks for an outcome:

    testing.batch.cs.sap.com/outcome: Complete | Failed
    testing.batch.cs.sap.com/delay-seconds: "2"      (optional)

The runner then writes the status the real job controller would: since Kubernetes 1.31 the API
server rejects a bare ``Complete=True``, so it sets startTime, completionTime and
SuccessCriteriaMet before Complete (and FailureTarget before Failed). It is the only fake in the
test suite; never run the real job controller beside it, it would overwrite the status.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import threading
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

OUTCOME_ANNOTATION = "testing.batch.cs.sap.com/outcome"
DELAY_ANNOTATION = "testing.batch.cs.sap.com/delay-seconds"
COMPLETE = "Complete"
FAILED = "Failed"

log = logging.getLogger(__name__)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _condition(kind: str, reason: str, message: str) -> dict[str, str]:
    now = _now()
    return {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastProbeTime": now,
        "lastTransitionTime": now,
    }


def finished_status(outcome: str, start_time: str | None) -> dict[str, Any]:
    """The status a job controller writes for a finished single-Pod Job."""
    start = start_time or _now()
    if outcome == COMPLETE:
        return {
            "active": None,
            "startTime": start,
            "completionTime": _now(),
            "succeeded": 1,
            "conditions": [
                _condition("SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods"),
                _condition("Complete", "CompletionsReached", "Reached expected number of succeeded pods"),
            ],
        }  # fmt: skip
    return {
        "active": None,
        "startTime": start,
        "failed": 1,
        "conditions": [
            _condition("FailureTarget", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
            _condition("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
        ],
    }  # fmt: skip


def _is_finished(job: client.V1Job) -> bool:
    conditions = (job.status and job.status.conditions) or []
    return any(c.type in (COMPLETE, FAILED) and c.status == "True" for c in conditions)


class JobRunner:
    """Watches Jobs (in one namespace or all) and finishes those that ask for an outcome."""

    def __init__(self, api: client.ApiClient, namespace: str | None = None) -> None:
        self._batch = client.BatchV1Api(api)
        self._namespace = namespace
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-runner", daemon=True)
        self._timers: list[threading.Timer] = []
        self._lock = threading.Lock()
        self._scheduled: set[str] = set()
        self._watch: watch.Watch | None = None

    def start(self) -> JobRunner:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._watch is not None:
            self._watch.stop()
        with self._lock:
            for timer in self._timers:
                timer.cancel()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._watch = watch.Watch()
            try:
                if self._namespace:
                    stream = self._watch.stream(
                        self._batch.list_namespaced_job, self._namespace, timeout_seconds=30
                    )
                else:
                    stream = self._watch.stream(
                        self._batch.list_job_for_all_namespaces, timeout_seconds=30
                    )
                for event in stream:
                    if self._stop.is_set():
                        return
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._consider(event["object"])
            except Exception:  # the watch restarts; a stand-in must not die silently
                if not self._stop.is_set():
                    log.exception("job runner watch failed; restarting")
                    self._stop.wait(0.5)

    def _consider(self, job: client.V1Job) -> None:
        annotations = job.metadata.annotations or {}
        outcome = annotations.get(OUTCOME_ANNOTATION)
        if outcome not in (COMPLETE, FAILED) or _is_finished(job):
            return
        key = job.metadata.uid
        with self._lock:
            if key in self._scheduled:
                return
            self._scheduled.add(key)
            delay = float(annotations.get(DELAY_ANNOTATION, "0") or 0)
        # Like a kubelet, mark the Job started at once; finish it after the asked delay.
        start = (job.status and job.status.start_time) or None
        start_time = start.strftime("%Y-%m-%dT%H:%M:%SZ") if start else _now()
        namespace, name = job.metadata.namespace, job.metadata.name
        if start is None:
            self._patch_status(namespace, name, {"startTime": start_time, "active": 1})
        timer = threading.Timer(
            delay,
            lambda: self._patch_status(namespace, name, finished_status(outcome, start_time)),
        )
        timer.daemon = True
        with self._lock:
            self._timers.append(timer)
        timer.start()

    def _patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        with contextlib.suppress(ApiException):  # the Job may be gone already
            self._batch.patch_namespaced_job_status(name, namespace, {"status": status})

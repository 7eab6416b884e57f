"""The kubelet's stand-in: drives Job status from an annotation, since no Pods ever run here.

A Job (usually through its ReactiveJob's ``jobTemplate.metadata.annotations``) asks for an outcome:

    testing.batch.cs.sap.com/outcome: Complete | Failed
    testing.batch.cs.sap.com/delay-seconds: "2"      (optional)

The runner then writes the status the real job controller would: since Kubernetes 1.31 the API
server rejects a bare ``Complete=True``, so it sets startTime, completionTime and
SuccessCriteriaMet before Complete (and FailureTarget before Failed). It is the only fake in the
test suite; never run the real job controller beside it, it would overwrite the status.

Like a kubelet, it never runs a Job while ``spec.suspend`` is true (it finishes it once the Job
is resumed), and at rest it is silent: one long watch, no polling.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime
import functools
import json
import logging
import threading
from typing import Any

import urllib3
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

OUTCOME_ANNOTATION = "testing.batch.cs.sap.com/outcome"
DELAY_ANNOTATION = "testing.batch.cs.sap.com/delay-seconds"
COMPLETE = "Complete"
FAILED = "Failed"
_REASONS = {
    COMPLETE: ("SuccessCriteriaMet", "CompletionsReached", "Reached expected number of pods"),
    FAILED: ("FailureTarget", "BackoffLimitExceeded", "Job has reached the backoff limit"),
}

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


def finished_status(outcome: str, start_time: str) -> dict[str, Any]:
    """The status a job controller writes for a finished single-Pod Job."""
    interim, reason, message = _REASONS[outcome]
    status: dict[str, Any] = {
        "active": None,  # merge patch: remove
        "startTime": start_time,
        "conditions": [
            _condition(interim, reason, message),
            _condition(outcome, reason, message),
        ],
    }
    if outcome == COMPLETE:
        status.update(completionTime=_now(), succeeded=1)
    else:
        status.update(failed=1)
    return status


def _is_finished(job: dict[str, Any]) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(c["type"] in (COMPLETE, FAILED) and c["status"] == "True" for c in conditions)


class JobRunner:
    """Watches Jobs (in one namespace or all) and finishes those that ask for an outcome."""

    def __init__(self, api: client.ApiClient, namespace: str | None = None) -> None:
        self._api = api
        self._batch = client.BatchV1Api(api)
        self._namespace = namespace
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-runner", daemon=True)
        # Status writes run beside the watch, as many kubelets would, so a burst of Jobs is
        # not finished one round trip at a time.
        self._writers = concurrent.futures.ThreadPoolExecutor(8, thread_name_prefix="job-runner")
        self._timers: list[threading.Timer] = []
        self._lock = threading.Lock()
        self._scheduled: set[str] = set()

    def start(self) -> JobRunner:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            for timer in self._timers:
                timer.cancel()
        self._writers.shutdown(wait=True, cancel_futures=True)
        # The watch thread may sit in a quiet stream (a daemon thread; it writes nothing more
        # once stopped), so it is not waited for long.
        self._thread.join(timeout=1)

    def _run(self) -> None:
        resource_version = ""
        while not self._stop.is_set():
            try:
                resource_version = self._watch_once(resource_version)
            except Exception:  # the watch restarts; a stand-in must not die silently
                if not self._stop.is_set():
                    log.debug("job runner watch ended; listing again", exc_info=True)
                    resource_version = ""
                    self._stop.wait(0.2)

    def _watch_once(self, resource_version: str) -> str:
        if self._namespace:
            lister: Any = functools.partial(self._batch.list_namespaced_job, self._namespace)
        else:
            lister = self._batch.list_job_for_all_namespaces
        # Plain JSON throughout: the client's models of a Job with a 100 KB pod template cost
        # more CPU than everything the stand-in does with it.
        if not resource_version:
            listed = json.loads(lister(_preload_content=False).data)
            for job in listed.get("items", []):
                self._consider(job)
            resource_version = listed["metadata"]["resourceVersion"]
        watcher = watch.Watch()  # type: ignore[no-untyped-call]
        # A long-lived watch: at rest the stand-in sends nothing (no polling, no re-watch storm).
        for event in watcher.stream(  # type: ignore[no-untyped-call]
            lister, resource_version=resource_version, timeout_seconds=300, deserialize=False
        ):
            if self._stop.is_set():
                break
            if event["type"] == "ERROR":  # 410 and the like: list again
                raise RuntimeError(f"watch error: {event['object']}")
            job = event["object"]
            resource_version = job["metadata"]["resourceVersion"]
            if event["type"] in ("ADDED", "MODIFIED"):
                self._consider(job)
        return resource_version

    def _consider(self, job: dict[str, Any]) -> None:
        metadata = job["metadata"]
        annotations = metadata.get("annotations") or {}
        outcome = annotations.get(OUTCOME_ANNOTATION)
        if (
            outcome not in (COMPLETE, FAILED)
            or _is_finished(job)
            or "deletionTimestamp" in metadata
            or (job.get("spec") or {}).get("suspend")  # a suspended Job starts no Pods
            or self._stop.is_set()
        ):
            return
        with self._lock:
            if metadata["uid"] in self._scheduled:
                return
            self._scheduled.add(metadata["uid"])
        delay = float(annotations.get(DELAY_ANNOTATION) or 0)
        namespace, name = metadata["namespace"], metadata["name"]
        start_time = (job.get("status") or {}).get("startTime") or _now()
        finished = finished_status(outcome, start_time)
        if not delay:  # started and finished in one write, as a Pod that exits at once
            self._submit(namespace, name, finished)
            return
        # Like a kubelet, mark the Job started at once; finish it after the asked delay.
        self._submit(namespace, name, {"startTime": start_time, "active": 1})
        timer = threading.Timer(delay, self._submit, (namespace, name, finished))
        timer.daemon = True
        with self._lock:
            self._timers.append(timer)
        timer.start()

    def _submit(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        with contextlib.suppress(RuntimeError):  # stopped meanwhile: the pool takes no more
            self._writers.submit(self._patch_status, namespace, name, status)

    def _patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        # As a kubelet would, it keeps trying through an API server outage, until stopped.
        while True:
            try:
                self._batch.patch_namespaced_job_status(name, namespace, {"status": status})
                return
            except ApiException as error:
                if error.status < 500:
                    return  # gone already, or not ours to finish
            except urllib3.exceptions.HTTPError:
                pass  # no connection: the API server is restarting
            if self._stop.wait(1.0):
                return

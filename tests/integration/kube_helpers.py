"""Small waits and reads for reconciler tests (real API server, no mocks)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from reactivejob_api import GROUP, PLURAL, VERSION
from reactivejob_api.vocabulary import LABEL_CONTROLLER_UID

T = TypeVar("T")


def slug(text: str, length: int) -> str:
    """``text`` as a DNS label of at most ``length`` characters (test names to namespaces)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:length].strip("-")


def eventually(check: Callable[[], T | None], timeout: float = 30.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            result = check()
        except AssertionError as error:
            result, last = None, error
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout:.0f}s (last: {last})")
        time.sleep(0.1)


class Cluster:
    """The handful of calls the reconciler tests make, with the admin identity."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.namespace = namespace
        self.objects = client.CustomObjectsApi(api)
        self.batch = client.BatchV1Api(api)
        self.core = client.CoreV1Api(api)
        self.api = api

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        return as_json(
            self.objects.create_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, body
            )
        )

    def get(self, name: str) -> dict[str, Any] | None:
        try:
            found = as_json(
                self.objects.get_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, PLURAL, name
                )
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return found

    def patch(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return as_json(
            self.objects.patch_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, name, patch
            )
        )

    def delete(self, name: str) -> None:
        self.objects.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)

    def jobs(self, uid: str | None = None) -> list[dict[str, Any]]:
        selector = f"{LABEL_CONTROLLER_UID}={uid}" if uid else LABEL_CONTROLLER_UID
        listed = self.batch.list_namespaced_job(self.namespace, label_selector=selector)
        jobs: list[dict[str, Any]] = as_json(listed, self.api)["items"]
        return sorted(jobs, key=lambda j: j["metadata"]["creationTimestamp"])

    def job(self, name: str) -> dict[str, Any] | None:
        try:
            found = self.batch.read_namespaced_job(name, self.namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return as_json(found, self.api)

    def events(self, name: str) -> list[dict[str, Any]]:
        listed = self.core.list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.name={name}"
        )
        events: list[dict[str, Any]] = as_json(listed, self.api)["items"]
        return events

    def wait_events(self, name: str, reason: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        """The Events of ``reason`` on ``name``, once there is one: the operator posts Events
        from a queue, after the status write a test may already have seen."""
        return eventually(
            lambda: [e for e in self.events(name) if e["reason"] == reason] or None,
            timeout,
            f"a {reason} event on {name}",
        )

    def wait_state(self, name: str, state: str, timeout: float = 30.0) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            obj = self.get(name)
            status = (obj or {}).get("status", {})
            generation = (obj or {}).get("metadata", {}).get("generation")
            if status.get("state") == state and status.get("observedGeneration") == generation:
                return obj
            return None

        return eventually(reached, timeout, f"{name} in state {state}")


def manifest(body: dict[str, Any]) -> Any:
    """The kubernetes client takes a plain dict wherever its types ask for a model."""
    return body


def job_create_webhook(name: str, hook: str, client_config: dict[str, Any], namespace: str) -> Any:
    """A ValidatingWebhookConfiguration ``name`` that sends every Job create in ``namespace`` to
    the webhook ``hook`` at ``client_config``, failing closed: another policy engine's."""
    return manifest(
        {
            "metadata": {"name": name},
            "webhooks": [
                {
                    "name": hook,
                    "clientConfig": client_config,
                    "rules": [
                        {
                            "apiGroups": ["batch"],
                            "apiVersions": ["v1"],
                            "operations": ["CREATE"],
                            "resources": ["jobs"],
                        }
                    ],
                    "failurePolicy": "Fail",
                    "sideEffects": "None",
                    "admissionReviewVersions": ["v1"],
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": namespace}
                    },
                }
            ],
        }
    )


def as_json(answer: object, api: client.ApiClient | None = None) -> dict[str, Any]:
    """A client answer as plain JSON: custom-object calls return dicts already (typed
    ``object``), typed calls return models that ``sanitize_for_serialization`` turns into dicts."""
    if api is not None:
        answer = api.sanitize_for_serialization(answer)  # type: ignore[no-untyped-call]
    assert isinstance(answer, dict)
    return answer


def conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in obj.get("status", {}).get("conditions", [])}


class JobAdditions:
    """Records, from a watch, the order in which the API server added Jobs of a namespace.

    creationTimestamp has one-second resolution, so it cannot order Jobs made within a second;
    the watch stream can. Use as a context manager around the work.
    """

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.added: list[dict[str, Any]] = []  # Job metadata, in the order ADDED arrived
        # Every event in the order it arrived: (type, uid label, name, unsuspended and unfinished)
        self.timeline: list[tuple[str, str, str, bool]] = []
        self._watch = watch.Watch()  # type: ignore[no-untyped-call]
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._listed = threading.Event()
        self._stopping = threading.Event()
        self.error: BaseException | None = None

    def __enter__(self) -> JobAdditions:
        self._thread.start()
        assert self._listed.wait(30), "the Job watch did not start"
        return self

    def __exit__(self, *_: object) -> None:
        self._stopping.set()
        self._watch.stop()  # type: ignore[no-untyped-call]
        self._thread.join(timeout=10)

    def _run(self) -> None:
        batch, namespace = self.cluster.batch, self.cluster.namespace
        try:
            # Unparsed (a urllib3 response), so no client model is built for each Job.
            answer: Any = batch.list_namespaced_job(
                namespace, label_selector=LABEL_CONTROLLER_UID, _preload_content=False
            )
            listed = json.loads(answer.data)
            self.added = [job["metadata"] for job in listed["items"]]
            for job in listed["items"]:
                self._record("ADDED", job)
            version = listed["metadata"]["resourceVersion"]
            self._listed.set()
            while True:
                stream = self._watch.stream(  # type: ignore[no-untyped-call]
                    batch.list_namespaced_job,
                    namespace,
                    label_selector=LABEL_CONTROLLER_UID,
                    resource_version=version,
                    timeout_seconds=60,
                    deserialize=False,
                )
                for event in stream:
                    job = as_json(event["object"])
                    version = job["metadata"]["resourceVersion"]
                    if event["type"] == "ADDED":
                        self.added.append(job["metadata"])
                    self._record(event["type"], job)
                if self._stopping.is_set():  # else the server ended it (timeout): watch on
                    return
        except BaseException as error:  # surfaced by the test through .error
            if self._stopping.is_set():
                return  # the stop cut the stream mid-read (urllib3: "Response ended prematurely")
            self.error = error
            self._listed.set()

    def _record(self, kind: str, job: dict[str, Any]) -> None:
        conditions = (job.get("status") or {}).get("conditions") or []
        finished = any(
            c["type"] in ("Complete", "Failed") and c["status"] == "True" for c in conditions
        )
        runs = not (job.get("spec") or {}).get("suspend") and not finished
        owner = job["metadata"]["labels"].get(LABEL_CONTROLLER_UID, "")
        self.timeline.append((kind, owner, job["metadata"]["name"], runs))

    def most_running_at_once(self, *uids: str) -> tuple[int, list[str]]:
        """The most Jobs of ``uids`` (the ReactiveJobs' uids) that were unsuspended and
        unfinished at one instant, as the watch saw it, with their names at the first such
        instant."""
        assert self.error is None, f"the Job watch failed: {self.error!r}"
        running: set[str] = set()
        most: tuple[int, list[str]] = (0, [])
        for kind, owner, name, runs in self.timeline:
            if owner not in uids:
                continue
            if runs and kind != "DELETED":
                running.add(name)
            else:
                running.discard(name)
            if len(running) > most[0]:
                most = (len(running), sorted(running))
        return most

    def of(self, uid: str) -> list[dict[str, Any]]:
        assert self.error is None, f"the Job watch failed: {self.error!r}"
        return [m for m in self.added if m["labels"].get(LABEL_CONTROLLER_UID) == uid]

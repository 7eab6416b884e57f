"""``logs``: the logs of a run's Pods, read through the API server as ``kubectl logs job/...``
reads them, but found from the ReactiveJob: its newest Job, or a run named by its Job.

The Pods are found by the job controller's ``batch.kubernetes.io/job-name`` label, oldest
first; each container's log (init containers first) is one streamed GET of ``pods/log``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx

from reactivejob_api import Connection
from reactivejob_api.client import PodClient
from typedkube.sync import client_for
from typedkube.wire import error_for

JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


def containers_of(pod: Mapping[str, Any]) -> list[str]:
    spec = pod.get("spec") or {}
    return [c["name"] for c in (*(spec.get("initContainers") or []), *spec["containers"])]


def run_of(status: Mapping[str, Any], job: str | None) -> str | None:
    """The Job of the run asked for: the current one, or ``job`` if it is one of its runs."""
    if job is None:
        current: str | None = status.get("currentJobName")
        return current
    runs = {e.get("jobName") for e in status.get("history") or []}
    return job if job in runs or job == status.get("currentJobName") else None


class RunLogs:
    """A run's Pods and their logs over one HTTP client; ``follow`` waits for more until the
    container ends (no read timeout then)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.http = client_for(connection)
        self.pods = PodClient(connection, http=self.http)

    def close(self) -> None:
        self.http.close()

    def pods_of(self, namespace: str, job: str) -> list[dict[str, Any]]:
        """The run's Pods, oldest first (one LIST by the job controller's label)."""
        listed = self.pods.list_json(namespace, label_selector=f"{JOB_NAME_LABEL}={job}")
        items: list[dict[str, Any]] = listed.get("items") or []
        return sorted(items, key=lambda p: str(p["metadata"].get("creationTimestamp") or ""))

    def lines(
        self, namespace: str, pod: str, container: str, *, follow: bool, previous: bool
    ) -> Iterator[str]:
        params = {"container": container}
        if follow:
            params["follow"] = "true"
        if previous:
            params["previous"] = "true"
        path = f"/api/v1/namespaces/{namespace}/pods/{pod}/log"
        timeout = httpx.Timeout(30.0, read=None) if follow else 30.0
        with self.http.stream("GET", path, params=params, timeout=timeout) as answer:
            if answer.status_code >= 400:
                raise error_for(answer.status_code, answer.read().decode(), self.connection)
            yield from answer.iter_lines()


def prefixed(pods: Sequence[Mapping[str, Any]]) -> bool:
    """kubectl's --prefix, on by itself when more than one log is printed."""
    return len(pods) > 1 or any(len(containers_of(p)) > 1 for p in pods)

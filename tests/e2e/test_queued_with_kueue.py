"""The operator beside real Kueue on the real node: its Jobs are queued by Kueue's webhook,
admitted one at a time by a ClusterQueue with room for one, preempted and admitted again, and
run by the real job controller and kubelet. The operator (the chart, upgraded with
kueue.enabled) never writes spec.suspend on them: a run waits by not being made.

This module runs after test_operator_on_node (the file name orders it), so the chart those
tests installed is upgraded here, not under them.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from kubernetes import client

from reactivejob_api.vocabulary import ANNOTATION_HELD, LABEL_CONTROLLER_UID
from testbed.kueue import (
    PRIORITY_CLASS_LABEL,
    QUEUE_LABEL,
    Kueue,
    create_cluster_queue,
    create_local_queue,
)
from tests.e2e.conftest import (
    OPERATOR_NAMESPACE,
    RELEASE,
    TIMINGS,
    wait_until_the_webhook_answers,
)
from tests.e2e.templates import busybox, plain_job
from tests.integration.chart_install import CHART, run_helm
from tests.integration.kube_helpers import (
    Cluster,
    JobAdditions,
    as_json,
    conditions,
    eventually,
    manifest,
)
from tests.samples import reactive_job

pytestmark = [pytest.mark.usefixtures("kueue_operator"), pytest.mark.timeout(600)]

QUEUE = "queue"


@pytest.fixture(scope="module")
def kueue_operator(
    operator: dict[str, Any], kueue: Kueue, kube: client.ApiClient
) -> dict[str, Any]:
    """The chart installed for the tier, upgraded as a user turns Kueue on: --kueue, and read
    rights on Workloads."""
    started = time.monotonic()
    run_helm(
        operator["helm"], "upgrade", RELEASE, str(CHART), "--namespace", OPERATOR_NAMESPACE,
        "--reuse-values", "--set", "kueue.enabled=true", "--wait", "--timeout", "180s",
        kubeconfig=operator["kubeconfig"],
    )  # fmt: skip
    TIMINGS["helm upgrade with kueue.enabled"] = time.monotonic() - started
    # --wait ends when the new Pods are available; an old one, still stopping, may hold the
    # Lease for a moment yet, and it runs without --kueue.
    core = client.CoreV1Api(kube)

    def settled() -> bool | None:
        pods = core.list_namespaced_pod(
            OPERATOR_NAMESPACE, label_selector="app.kubernetes.io/name=reactivejob-operator"
        ).items
        return (
            len(pods) == 2 and all(p.metadata and not p.metadata.deletion_timestamp for p in pods)
        ) or None

    eventually(settled, 120, "the old operator Pods gone")
    wait_until_the_webhook_answers(kube)
    return operator


@pytest.fixture
def queue(kube: client.ApiClient, namespace: str) -> Iterator[str]:
    """A LocalQueue in the test's namespace on a ClusterQueue of its own with room for one Job
    asking cpu 100m; the ClusterQueue goes with the test (its Workloads go with the namespace)."""
    create_cluster_queue(kube, namespace)
    create_local_queue(kube, namespace, QUEUE, namespace)
    yield QUEUE
    try:
        client.CustomObjectsApi(kube).delete_cluster_custom_object(
            "kueue.x-k8s.io", "v1beta2", "clusterqueues", namespace
        )
    except client.ApiException as error:
        if error.status != 404:
            raise


def queued(script: str, priority: str | None = None, **spec: Any) -> dict[str, Any]:
    """A Job template for the LocalQueue whose one container runs ``script`` in busybox's sh
    and asks for the ClusterQueue's whole quota."""
    labels = {QUEUE_LABEL: QUEUE, **({PRIORITY_CLASS_LABEL: priority} if priority else {})}
    return busybox(script, labels=labels, cpu="100m", **spec)


class States:
    """The (state, Ready reason) each ReactiveJob showed, in order, sampled every 0.2 s."""

    def __init__(self, cluster: Cluster, names: Sequence[str]) -> None:
        self.cluster, self.names = cluster, names
        self.seen: dict[str, list[tuple[str, str]]] = {name: [] for name in names}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> States:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            for name in self.names:
                obj = self.cluster.get(name) or {}
                state = (obj.get("status") or {}).get("state", "")
                reason = (conditions(obj).get("Ready") or {}).get("reason", "")
                seen = self.seen[name]
                if state and (not seen or seen[-1] != (state, reason)):
                    seen.append((state, reason))


def current_job(cluster: Cluster, name: str) -> str | None:
    return ((cluster.get(name) or {}).get("status") or {}).get("currentJobName")


def create_job(cluster: Cluster, name: str, template: dict[str, Any]) -> None:
    """Another tenant of the queue: a plain Job of ``template``."""
    cluster.batch.create_namespaced_job(cluster.namespace, manifest(plain_job(name, template)))


def never_ours_to_suspend(jobs: Sequence[dict[str, Any]]) -> None:
    for job in jobs:
        labels, annotations = job["labels"], job.get("annotations") or {}
        assert labels[QUEUE_LABEL] == QUEUE, labels  # reached the Job, unchanged
        assert ANNOTATION_HELD not in annotations, job["name"]  # never held (suspended) by us


def test_two_reactivejobs_under_forbid_run_in_turn_through_one_queue(
    cluster: Cluster, queue: str
) -> None:
    names = ("first", "second")
    with JobAdditions(cluster) as additions, States(cluster, names) as states:
        uids = []
        for name in names:
            body = reactive_job(name, queued("sleep 3"))
            body["spec"]["concurrencyPolicy"] = "Forbid"
            uids.append(cluster.create(body)["metadata"]["uid"])
        # A change while the first run is queued or running: under Forbid its Job is made only
        # once the first run's Job has finished.
        for name in names:
            eventually(functools.partial(current_job, cluster, name), 60, f"{name}'s first Job")
            cluster.patch(name, {"spec": {"jobTemplate": queued("echo second run")}})
        done = [cluster.wait_state(name, "Ready", timeout=180) for name in names]
        time.sleep(1)  # the last events reach the watch
    most, at_once = additions.most_running_at_once(*uids)
    assert most == 1, at_once  # the queue had room for one
    for obj, uid in zip(done, uids, strict=True):
        history = obj["status"]["history"]
        assert [e["result"] for e in history] == ["Succeeded", "Succeeded"], history
        assert [e["generation"] for e in history] == [2, 1]
        jobs = additions.of(uid)
        assert len(jobs) == 2, [j["name"] for j in jobs]
        never_ours_to_suspend(jobs)
        first = cluster.job(history[1]["jobName"])
        assert first is not None
        # The second run's Job was made after the first had finished, not held beside it.
        made = cluster.job(history[0]["jobName"])
        assert made is not None
        assert made["metadata"]["creationTimestamp"] >= first["status"]["completionTime"]
    waited = [s for name in names for s in states.seen[name] if s[1] == "WaitingForPreviousRun"]
    assert waited, states.seen


def test_an_evicted_run_reads_evicted_and_runs_again_in_the_same_job(
    cluster: Cluster, queue: str
) -> None:
    with JobAdditions(cluster) as additions, States(cluster, ["low"]) as states:
        uid = cluster.create(reactive_job("low", queued("sleep 12", priority="low")))["metadata"][
            "uid"
        ]

        def admitted() -> dict[str, Any] | None:
            obj = cluster.get("low") or {}
            return obj if (conditions(obj).get("Ready") or {}).get("reason") == "Admitted" else None

        job = eventually(admitted, 90, "low admitted")["status"]["currentJobName"]
        high = queued("sleep 3", priority="high")
        create_job(cluster, "high", high)
        evicted = cluster.wait_state("low", "Evicted", timeout=90)
        ready = conditions(evicted)["Ready"]
        assert ready["reason"] == "Preempted" and "Preempted" in ready["message"], ready
        assert "Stalled" not in conditions(evicted)  # an eviction is not a failure
        assert conditions(evicted)["Reconciling"]["status"] == "True"
        done = cluster.wait_state("low", "Ready", timeout=180)
    assert done["status"]["currentJobName"] == job
    assert [j["name"] for j in additions.of(uid)] == [job]  # no new Job
    assert [e["result"] for e in done["status"]["history"]] == ["Succeeded"]
    assert not [e for e in cluster.events("low") if e["reason"] == "JobFailed"]
    seen = [state for state, _ in states.seen["low"]]
    assert "Evicted" in seen and "Error" not in seen, seen
    never_ours_to_suspend(additions.of(uid))


def test_a_reactivejob_suspended_while_its_job_is_queued_holds_the_next_run(
    cluster: Cluster, queue: str
) -> None:
    blocker = queued("sleep 8")
    create_job(cluster, "blocker", blocker)
    eventually(
        lambda: (cluster.job("blocker") or {}).get("spec", {}).get("suspend") is False or None,
        60, "the blocker admitted",
    )  # fmt: skip
    with JobAdditions(cluster) as additions:
        uid = cluster.create(reactive_job("held", queued("echo first")))["metadata"]["uid"]
        job = cluster.wait_state("held", "Queued", timeout=60)["status"]["currentJobName"]
        cluster.patch("held", {"spec": {"suspend": True}})
        assert cluster.wait_state("held", "Queued", timeout=30)["status"]["currentJobName"] == job
        cluster.patch("held", {"spec": {"jobTemplate": queued("echo changed")}})
        # The queued Job is left to Kueue: admitted when the blocker ends, it runs; the change
        # is held, no Job is made for it.
        eventually(
            lambda: ((cluster.job(job) or {}).get("status") or {}).get("succeeded") == 1 or None,
            120, "the queued Job admitted and run",
        )  # fmt: skip
        suspended = cluster.wait_state("held", "Suspended", timeout=30)
        assert conditions(suspended)["Suspended"]["status"] == "True"
        time.sleep(3)
        assert [j["name"] for j in additions.of(uid)] == [job]
        cluster.patch("held", {"spec": {"suspend": False}})
        done = cluster.wait_state("held", "Ready", timeout=120)
    assert done["status"]["currentJobName"] != job
    assert len(additions.of(uid)) == 2
    never_ours_to_suspend(additions.of(uid))


def test_replace_deletes_the_admitted_job_before_the_new_one_is_made(
    cluster: Cluster, queue: str
) -> None:
    body = reactive_job("replace", queued("sleep 600"))
    body["spec"]["concurrencyPolicy"] = "Replace"
    with JobAdditions(cluster) as additions:
        uid = cluster.create(body)["metadata"]["uid"]

        def running() -> str | None:
            obj = cluster.get("replace") or {}
            admitted = (conditions(obj).get("Ready") or {}).get("reason") == "Admitted"
            name = obj.get("status", {}).get("currentJobName")
            listed = cluster.core.list_namespaced_pod(
                cluster.namespace, label_selector=f"job-name={name}"
            )
            pods = as_json(listed, cluster.api)["items"]
            phase = pods[0]["status"].get("phase") if pods else None
            assert admitted and phase == "Running", (obj.get("status"), phase)
            return str(name)

        old = eventually(running, 90, "the old run admitted and running")
        cluster.patch("replace", {"spec": {"jobTemplate": queued("echo replaced")}})
        done = cluster.wait_state("replace", "Ready", timeout=180)
        time.sleep(1)
    assert cluster.job(old) is None
    new = done["status"]["currentJobName"]
    timeline = [(kind, name) for kind, owner, name, _ in additions.timeline if owner == uid]
    # The old Job was gone (foreground: its Pods first) before the new one was made.
    assert timeline.index(("DELETED", old)) < timeline.index(("ADDED", new)), timeline
    history = done["status"]["history"]
    assert [e["result"] for e in history] == ["Succeeded", "Cancelled"], history
    never_ours_to_suspend(additions.of(uid))
    assert all(j["labels"][LABEL_CONTROLLER_UID] == uid for j in additions.of(uid))

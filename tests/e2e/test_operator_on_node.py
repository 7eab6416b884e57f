"""The operator as users run it: its image, `helm install`, a Pod with its ServiceAccount on a
real kubelet, and Jobs whose Pods the real job controller and kubelet run.

What only a node shows: the image starts as uid 65532 on a read-only root file system under
Pod Security "restricted"; probes answered to a kubelet; the webhook called by the API server
through its Service; the Job controller's own conditions and reasons; Replace killing a real
running Pod; a leader's Pod deleted; the kubelet's token rotation.
"""

from __future__ import annotations

import datetime
import threading
import time
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from reactivejob_api import GROUP, PLURAL, VERSION
from testbed.node.node import RealCluster
from tests.e2e.conftest import OPERATOR_NAMESPACE, RELEASE, TIMINGS
from tests.e2e.templates import busybox
from tests.integration.kube_helpers import Cluster, as_json, conditions, eventually
from tests.samples import reactive_job

# The tier's node, images and chart are made in the first test's set-up, and the last test
# outlives a 10-minute token: far beyond the suite's default per-test limit.
pytestmark = [pytest.mark.usefixtures("operator"), pytest.mark.timeout(1200)]

LEASE = "reactivejob-operator.batch.cs.sap.com"


def pods_of(cluster: Cluster, job: str) -> list[dict[str, Any]]:
    listed = cluster.core.list_namespaced_pod(cluster.namespace, label_selector=f"job-name={job}")
    pods: list[dict[str, Any]] = as_json(listed, cluster.api)["items"]
    return pods


def when(stamp: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_the_chart_runs_restricted_and_ready_through_the_kubelet(kube: client.ApiClient) -> None:
    apps, core = client.AppsV1Api(kube), client.CoreV1Api(kube)
    deployment = apps.read_namespaced_deployment(f"{RELEASE}", OPERATOR_NAMESPACE)
    assert deployment.status is not None and deployment.status.available_replicas == 2
    pods = core.list_namespaced_pod(
        OPERATOR_NAMESPACE, label_selector="app.kubernetes.io/name=reactivejob-operator"
    ).items
    assert len(pods) == 2
    for pod in pods:
        assert pod.status is not None and pod.spec is not None
        ready = {c.type: c.status for c in pod.status.conditions or []}
        assert ready["Ready"] == "True"  # the kubelet's readiness probe got 200 from /readyz
        container = pod.spec.containers[0]
        assert container.security_context is not None
        assert container.security_context.read_only_root_filesystem is True
        statuses = pod.status.container_statuses or []
        assert statuses and statuses[0].restart_count == 0
    namespace = core.read_namespace(OPERATOR_NAMESPACE)
    assert namespace.metadata is not None and namespace.metadata.labels is not None
    assert namespace.metadata.labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_jobs_run_real_pods_and_report_the_job_controllers_reasons(cluster: Cluster) -> None:
    cluster.create(reactive_job("ok", busybox("echo ok")))
    cluster.create(reactive_job("fails", busybox("exit 3")))
    ok = cluster.wait_state("ok", "Ready", timeout=90)
    job = ok["status"]["currentJobName"]
    pod = pods_of(cluster, job)[0]
    assert pod["status"]["phase"] == "Succeeded"
    log = cluster.core.read_namespaced_pod_log(pod["metadata"]["name"], cluster.namespace)
    assert log == "ok\n"  # read from the kubelet through the API server

    failed = cluster.wait_state("fails", "Error", timeout=90)
    stalled = conditions(failed)["Stalled"]
    assert stalled["status"] == "True"
    assert stalled["reason"] == "BackoffLimitExceeded"  # the job controller's own reason
    terminated = pods_of(cluster, failed["status"]["currentJobName"])[0]["status"][
        "containerStatuses"
    ][0]["state"]["terminated"]
    assert terminated["exitCode"] == 3
    # The job controller's conditions, in their modern order: FailureTarget, then Failed.
    failed_job = cluster.job(failed["status"]["currentJobName"])
    assert failed_job is not None
    kinds = [c["type"] for c in failed_job["status"]["conditions"] if c["status"] == "True"]
    assert kinds.index("FailureTarget") < kinds.index("Failed")
    run = failed["status"]["history"][0]
    assert (run["result"], run["reason"]) == ("Failed", "BackoffLimitExceeded"), run
    # The Job's words, then its failed Pod's (tests/e2e/test_jobs_that_fail_on_node.py has more).
    assert stalled["message"] == f"{run['message']}: container run of pod " + (
        f"{run['failure']['pod']} exited with code 3 (Error)"
    )

    # A changed template runs a new Pod.
    cluster.patch("ok", {"spec": {"jobTemplate": busybox("echo again")}})
    again = cluster.wait_state("ok", "Ready", timeout=90)
    assert again["status"]["currentJobName"] != job
    new_pod = pods_of(cluster, again["status"]["currentJobName"])[0]
    assert new_pod["metadata"]["uid"] != pod["metadata"]["uid"]


def test_failure_log_keeps_the_end_of_a_failed_containers_log_as_its_message(
    cluster: Cluster,
) -> None:
    """spec.failureLog: the kubelet keeps the tail of the log (FallbackToLogsOnError) as the
    termination message; the Job's name is what it would be without the field."""
    script = 'for i in $(seq 1 200); do echo "line $i"; done; exit 1'
    body = reactive_job("last-words", busybox(script))
    body["spec"]["failureLog"] = True
    cluster.create(body)
    failed = cluster.wait_state("last-words", "Error", timeout=90)
    job = failed["status"]["currentJobName"]
    pod = pods_of(cluster, job)[0]
    container = pod["spec"]["containers"][0]
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 1
    message = terminated["message"]
    assert message.endswith("line 200\n") and "line 199\n" in message, message[-200:]
    assert "line 100\n" not in message  # the tail only: 80 lines at most
    # Turned off again: a new generation, the same template, so no new run.
    cluster.patch("last-words", {"spec": {"failureLog": False}})
    same = cluster.wait_state("last-words", "Error", timeout=30)
    assert same["status"]["currentJobName"] == job
    assert len(cluster.jobs(failed["metadata"]["uid"])) == 1


def test_an_indexed_job_that_fails_some_indexes_names_them(cluster: Cluster) -> None:
    """backoffLimitPerIndex: index 1 fails, 0 and 2 succeed; the Job fails with reason
    FailedIndexes, and the status, the history and the Event say which."""
    script = '[ "$JOB_COMPLETION_INDEX" != 1 ] || exit 7'
    template = busybox(script, completionMode="Indexed", completions=3, parallelism=3,
                       backoffLimitPerIndex=0)  # fmt: skip
    del template["spec"]["backoffLimit"]  # backoffLimitPerIndex replaces it
    cluster.create(reactive_job("indexed", template))
    failed = cluster.wait_state("indexed", "Error", timeout=120)
    stalled = conditions(failed)["Stalled"]
    assert stalled["reason"] == "FailedIndexes", stalled
    run = failed["status"]["history"][0]
    assert run["reason"] == "FailedIndexes" and run["message"].endswith("(failed indexes: 1)")
    assert stalled["message"].startswith(run["message"]), stalled
    assert run["failure"]["exitCode"] == 7, run  # the Pod of index 1
    job = cluster.job(failed["status"]["currentJobName"])
    assert job is not None and job["status"]["failedIndexes"] == "1"
    assert job["status"]["succeeded"] == 2
    (event,) = cluster.wait_events("indexed", "JobFailed")
    assert "failed indexes: 1" in event["message"]


def test_replace_kills_the_running_pod_before_the_new_one_starts(cluster: Cluster) -> None:
    body = reactive_job("replace", busybox("sleep 600"))
    body["spec"]["concurrencyPolicy"] = "Replace"
    cluster.create(body)
    old_job = cluster.wait_state("replace", "Processing", timeout=60)["status"]["currentJobName"]

    def running() -> dict[str, Any] | None:
        pods = pods_of(cluster, old_job)
        return pods[0] if pods and pods[0]["status"].get("phase") == "Running" else None

    old = eventually(running, 60, "the sleep Pod running")
    old_container = old["status"]["containerStatuses"][0]["containerID"]
    cluster.patch("replace", {"spec": {"jobTemplate": busybox("echo replaced")}})
    done = cluster.wait_state("replace", "Ready", timeout=120)
    new = pods_of(cluster, done["status"]["currentJobName"])[0]
    # The old Pod is gone (foreground deletion waited for it); it was killed, not finished.
    assert pods_of(cluster, old_job) == []
    started = when(new["status"]["containerStatuses"][0]["state"]["terminated"]["startedAt"])
    events = as_json(
        cluster.core.list_namespaced_event(
            cluster.namespace, field_selector=f"involvedObject.name={old['metadata']['name']}"
        ),
        cluster.api,
    )["items"]
    killing = [e for e in events if e["reason"] == "Killing"]
    assert killing, [e["reason"] for e in events]
    killed = min(when(e.get("firstTimestamp") or e["eventTime"]) for e in killing)
    assert killed <= started, (killed, started, old_container)


def test_forbid_waits_for_an_older_job_that_someone_else_suspended(cluster: Cluster) -> None:
    """Suspended by hand (or by a batch scheduler's preemption), the old Job's Pod is gone, but
    whoever suspended it may resume it: the next run must wait for it to finish, or two run."""
    body = reactive_job("paused", busybox("sleep 15"))
    body["spec"]["concurrencyPolicy"] = "Forbid"
    cluster.create(body)
    old_job = cluster.wait_state("paused", "Processing", timeout=60)["status"]["currentJobName"]
    eventually(
        lambda: [p for p in pods_of(cluster, old_job) if p["status"].get("phase") == "Running"],
        60,
        "the old Job's Pod running",
    )
    cluster.batch.patch_namespaced_job(old_job, cluster.namespace, {"spec": {"suspend": True}})
    eventually(lambda: pods_of(cluster, old_job) == [] or None, 60, "the suspended Job's Pod gone")
    cluster.patch("paused", {"spec": {"jobTemplate": busybox("echo next")}})

    def waiting() -> dict[str, Any] | None:
        obj = cluster.get("paused") or {}
        ready = conditions(obj).get("Ready") or {}
        return obj if ready.get("reason") == "WaitingForPreviousRun" else None

    new_job = eventually(waiting, 60, "the next run waiting")["status"]["currentJobName"]
    assert new_job != old_job
    time.sleep(5)  # held: no Pod of the new run while the old one may be resumed
    held = cluster.job(new_job)
    assert held is not None and held["spec"]["suspend"] is True
    assert pods_of(cluster, new_job) == []

    cluster.batch.patch_namespaced_job(old_job, cluster.namespace, {"spec": {"suspend": False}})
    done = cluster.wait_state("paused", "Ready", timeout=120)
    assert done["status"]["currentJobName"] == new_job
    old = cluster.job(old_job)
    assert old is not None
    finished = when(old["status"]["completionTime"])
    new_pod = pods_of(cluster, new_job)[0]
    started = when(new_pod["status"]["containerStatuses"][0]["state"]["terminated"]["startedAt"])
    assert finished <= started, (finished, started)


def test_the_webhook_is_called_through_its_service(cluster: Cluster) -> None:
    bad = reactive_job("bad", busybox("true"))
    bad["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    with pytest.raises(ApiException) as refused:
        cluster.create(bad)
    assert refused.value.status in (400, 422)
    assert "admission webhook" in str(refused.value.body)
    assert "restartPolicy" in str(refused.value.body)


def test_deleting_the_leaders_pod_hands_over_to_the_other(
    kube: client.ApiClient, cluster: Cluster
) -> None:
    """While the leader's Pod goes away the webhook must answer every review: the deleted Pod
    is still among the Service's endpoints for a moment, so it has to keep serving until
    kube-proxy stops sending it connections (the chart's preStop sleep)."""
    coordination, core = client.CoordinationV1Api(kube), client.CoreV1Api(kube)
    lease = coordination.read_namespaced_lease(LEASE, OPERATOR_NAMESPACE)
    assert lease.spec is not None and lease.spec.holder_identity
    leader = lease.spec.holder_identity.split("_")[0]  # "<pod name>_<uuid>"
    reviews = ReviewsDuring(cluster)
    core.delete_namespaced_pod(leader, OPERATOR_NAMESPACE)

    def new_holder() -> str | None:
        spec = coordination.read_namespaced_lease(LEASE, OPERATOR_NAMESPACE).spec
        holder = (spec.holder_identity or "") if spec else ""
        return holder if holder and not holder.startswith(leader + "_") else None

    def leader_gone() -> bool:
        try:
            core.read_namespaced_pod(leader, OPERATOR_NAMESPACE)
        except ApiException as error:
            return bool(error.status == 404)
        return False

    eventually(new_holder, 60, "another replica holding the Lease")
    eventually(leader_gone, 60, "the deleted Pod gone")
    time.sleep(2)  # connections made just as it went
    answered, failures = reviews.stop()
    assert failures == [] and answered > 20
    cluster.create(reactive_job("after-failover", busybox("echo ok")))
    cluster.wait_state("after-failover", "Ready", timeout=90)


class ReviewsDuring:
    """Dry-run creates of a ReactiveJob, back to back on a thread: each one is reviewed by
    the webhook through its Service, as a user's `kubectl apply` is."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.answered = 0
        self.failures: list[str] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        body = reactive_job("dry-run", busybox("echo ok"))
        while not self._stopping.is_set():
            try:
                self.cluster.objects.create_namespaced_custom_object(
                    GROUP, VERSION, self.cluster.namespace, PLURAL, body, dry_run="All"
                )
                self.answered += 1
            except ApiException as error:
                self.failures.append(f"{error.status}: {error.body}")
            self._stopping.wait(0.2)

    def stop(self) -> tuple[int, list[str]]:
        self._stopping.set()
        self._thread.join(timeout=30)
        return self.answered, self.failures


def test_twenty_reactivejobs_run_their_pods_to_ready(cluster: Cluster) -> None:
    started = time.monotonic()
    names = [f"batch-{i}" for i in range(20)]
    for name in names:
        cluster.create(reactive_job(name, busybox("echo ok")))
    for name in names:
        done = cluster.wait_state(name, "Ready", timeout=180)
        assert pods_of(cluster, done["status"]["currentJobName"])[0]["status"]["phase"] == (
            "Succeeded"
        )
    TIMINGS["20 ReactiveJobs create to Ready"] = time.monotonic() - started


# Last in this file, so that the other tests run while the first tokens age.
def test_the_operator_works_past_its_first_tokens_expiry(
    node: RealCluster, operator: dict[str, Any], cluster: Cluster
) -> None:
    """The chart mounts a token that lives 10 minutes (serviceAccountToken.expirationSeconds)
    and the API server does not extend it: past that, only the kubelet's rotation and the
    operator re-reading the file keep its calls authenticated."""
    expired_at = operator["installed_at"] + 600 + 15
    time.sleep(max(0.0, expired_at - time.time()))
    cluster.create(reactive_job("late", busybox("echo late")))
    cluster.wait_state("late", "Ready", timeout=90)
    objects = client.CustomObjectsApi(node.kube)
    assert objects.get_namespaced_custom_object(GROUP, VERSION, cluster.namespace, PLURAL, "late")

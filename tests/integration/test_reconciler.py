"""ReactiveJob semantics on the real API server: the Go operator's scenarios and ours.

The operator runs as a real process; the job runner plays the kubelet (the only fake).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from reactivejob.core.naming import template_hash
from reactivejob_api.vocabulary import (
    ANNOTATION_GENERATION,
    ANNOTATION_HASH,
    FINALIZER,
    LABEL_CONTROLLER_NAME,
    LABEL_CONTROLLER_UID,
)
from testbed.harness.kubelet import (
    COMPLETE,
    DELAY_ANNOTATION,
    FAILED,
    OUTCOME_ANNOTATION,
)
from testbed.harness.operator_process import OperatorProcess
from tests.integration.kube_helpers import Cluster, conditions, eventually, manifest
from tests.samples import reactive_job, simple_template

TEST_ID = "testing.batch.cs.sap.com/test-id"


def outcome_template(outcome: str, **annotations: str) -> dict[str, Any]:
    return simple_template(
        **{OUTCOME_ANNOTATION: outcome, TEST_ID: str(uuid.uuid4()), **annotations}
    )


def current_job(cluster: Cluster, obj: dict[str, Any]) -> dict[str, Any]:
    job = cluster.job(obj["status"]["currentJobName"])
    assert job is not None
    return job


def job_condition(job: dict[str, Any], kind: str) -> bool:
    return any(
        c["type"] == kind and c["status"] == "True"
        for c in (job.get("status") or {}).get("conditions") or []
    )


@pytest.mark.usefixtures("operator")
def test_create_and_succeed(cluster: Cluster) -> None:
    template = outcome_template(COMPLETE)
    cluster.create(reactive_job("ok", template))
    obj = cluster.wait_state("ok", "Ready")
    job = current_job(cluster, obj)
    for key, value in template["metadata"]["annotations"].items():
        assert job["metadata"]["annotations"][key] == value
    assert job_condition(job, "Complete")
    meta = job["metadata"]
    assert meta["labels"][LABEL_CONTROLLER_UID] == obj["metadata"]["uid"]
    assert meta["labels"][LABEL_CONTROLLER_NAME] == "ok"
    assert meta["annotations"][ANNOTATION_GENERATION] == "1"
    assert meta["annotations"][ANNOTATION_HASH] == template_hash(obj["spec"]["jobTemplate"])
    assert FINALIZER in meta["finalizers"]
    assert meta["ownerReferences"][0]["uid"] == obj["metadata"]["uid"]
    assert FINALIZER in obj["metadata"]["finalizers"]
    ready = conditions(obj)
    assert ready["Ready"]["status"] == "True"
    assert set(ready) == {"Ready"}  # neither Reconciling nor Stalled: kstatus reads Current
    eventually(
        lambda: {e["reason"] for e in cluster.events("ok")} >= {"JobCreated", "JobSucceeded"},
        what="JobCreated and JobSucceeded events",
    )


@pytest.mark.usefixtures("operator")
def test_create_and_fail(cluster: Cluster) -> None:
    cluster.create(reactive_job("bad", outcome_template(FAILED)))
    obj = cluster.wait_state("bad", "Error")
    assert job_condition(current_job(cluster, obj), "Failed")
    status = conditions(obj)
    assert status["Ready"]["status"] == "False"
    assert status["Ready"]["reason"] == "BackoffLimitExceeded"
    assert status["Stalled"]["status"] == "True"  # kstatus reads Failed, not InProgress
    eventually(
        lambda: "JobFailed" in {e["reason"] for e in cluster.events("bad")}, what="JobFailed event"
    )


@pytest.mark.usefixtures("operator")
def test_running_job_reads_in_progress(cluster: Cluster) -> None:
    # Long enough that a loaded 2-core machine still sees it running before it completes.
    cluster.create(reactive_job("slow", outcome_template(COMPLETE, **{DELAY_ANNOTATION: "15"})))
    obj = cluster.wait_state("slow", "Processing")
    status = conditions(obj)
    assert status["Reconciling"]["status"] == "True"
    assert status["Ready"]["status"] == "Unknown"
    cluster.wait_state("slow", "Ready", timeout=60)


@pytest.mark.usefixtures("operator")
def test_update_reruns_and_releases_the_superseded_job(cluster: Cluster) -> None:
    cluster.create(reactive_job("rerun", outcome_template(COMPLETE)))
    first = current_job(cluster, cluster.wait_state("rerun", "Ready"))
    new_id = str(uuid.uuid4())
    cluster.patch(
        "rerun", {"spec": {"jobTemplate": {"metadata": {"annotations": {TEST_ID: new_id}}}}}
    )
    obj = cluster.wait_state("rerun", "Ready")
    assert obj["metadata"]["generation"] == 2
    second = current_job(cluster, obj)
    assert second["metadata"]["name"] != first["metadata"]["name"]
    assert second["metadata"]["annotations"][TEST_ID] == new_id
    assert FINALIZER in second["metadata"]["finalizers"]

    def released() -> bool:
        old = cluster.job(first["metadata"]["name"])
        return old is not None and FINALIZER not in (old["metadata"].get("finalizers") or [])

    eventually(released, what="the superseded Job losing its finalizer")
    assert len(cluster.jobs(obj["metadata"]["uid"])) == 2


@pytest.mark.usefixtures("operator")
def test_delete_removes_the_jobs(cluster: Cluster) -> None:
    cluster.create(reactive_job("gone", outcome_template(COMPLETE)))
    uid = cluster.wait_state("gone", "Ready")["metadata"]["uid"]
    cluster.patch("gone", {"spec": {"jobTemplate": {"metadata": {"annotations": {TEST_ID: "2"}}}}})
    cluster.wait_state("gone", "Ready")
    assert len(cluster.jobs(uid)) == 2
    cluster.delete("gone")
    eventually(lambda: cluster.get("gone") is None, what="the ReactiveJob gone")
    eventually(lambda: not cluster.jobs(uid), what="its Jobs gone")


@pytest.mark.usefixtures("operator")
def test_foreign_finalizer_blocks_deletion_until_removed(cluster: Cluster) -> None:
    body = reactive_job("held", outcome_template(COMPLETE))
    body["metadata"]["finalizers"] = ["example.com/hold"]
    cluster.create(body)
    uid = cluster.wait_state("held", "Ready")["metadata"]["uid"]
    cluster.delete("held")
    cluster.wait_state("held", "DeletionBlocked")
    # Nothing is deleted while someone else holds on: not even a deletion held by a finalizer.
    [job] = cluster.jobs(uid)
    assert "deletionTimestamp" not in job["metadata"]
    assert FINALIZER in job["metadata"]["finalizers"]
    obj = cluster.get("held")
    assert obj is not None
    remaining = [f for f in obj["metadata"]["finalizers"] if f != "example.com/hold"]
    cluster.patch(
        "held",
        {
            "metadata": {
                "finalizers": remaining,
                "resourceVersion": obj["metadata"]["resourceVersion"],
            }
        },
    )
    eventually(lambda: cluster.get("held") is None, what="the ReactiveJob gone")
    eventually(lambda: not cluster.jobs(uid), what="its Jobs gone")


def test_ttl_never_removes_the_newest_job(cluster: Cluster, operator: OperatorProcess) -> None:
    template = outcome_template(COMPLETE)
    template["spec"]["ttlSecondsAfterFinished"] = 0
    cluster.create(reactive_job("ttl", template))
    first = current_job(cluster, cluster.wait_state("ttl", "Ready"))
    name = first["metadata"]["name"]
    # The real TTL controller deletes the finished Job at once; our finalizer keeps it.
    eventually(
        lambda: (cluster.job(name) or {}).get("metadata", {}).get("deletionTimestamp"),
        what="TTL deleting",
    )
    # Only once the operator has reconciled with the deletion in view (and finished that
    # reconcile) does "still there" prove anything: before, nothing had a chance to drop it.
    seen = f"{cluster.namespace}/ttl: reconciling generation 1; jobs: {name} (deleting)"
    done = f"{cluster.namespace}/ttl: reconciled"
    eventually(
        lambda: seen in (logs := operator.logs()) and done in logs[logs.index(seen) :],
        what="a reconcile that saw the TTL deletion",
    )
    still = cluster.job(name)
    assert still is not None
    # The same object: a released Job is gone at once, and a fresh one under the same
    # deterministic name would be a second run of the same template, not protection.
    assert still["metadata"]["uid"] == first["metadata"]["uid"]
    assert FINALIZER in still["metadata"]["finalizers"]
    owner = cluster.get("ttl")
    assert owner is not None
    assert owner["status"]["currentJobName"] == name
    cluster.patch(
        "ttl", {"spec": {"jobTemplate": {"metadata": {"annotations": {TEST_ID: "next"}}}}}
    )
    obj = cluster.wait_state("ttl", "Ready")
    eventually(lambda: cluster.job(name) is None, what="the superseded Job removed by TTL")
    assert current_job(cluster, obj)["metadata"]["name"] != name


def test_rejected_template_errors_without_a_hot_loop_and_recovers(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    template = outcome_template(COMPLETE)
    template["spec"]["template"]["spec"]["containers"] = []
    cluster.create(reactive_job("empty", template))
    obj = cluster.wait_state("empty", "Error")
    status = conditions(obj)
    assert status["Stalled"]["reason"] == "JobRejected"
    assert "spec.template.spec.containers: Required value" in status["Ready"]["message"]
    assert cluster.jobs(obj["metadata"]["uid"]) == []
    version = obj["metadata"]["resourceVersion"]
    attempts = operator.logs().count(f"{cluster.namespace}/empty: creating job ")
    time.sleep(3)  # a hot loop would retry the create, rewrite status or post events meanwhile
    assert operator.logs().count(f"{cluster.namespace}/empty: creating job ") == attempts
    assert cluster.get("empty")["metadata"]["resourceVersion"] == version  # type: ignore[index]
    assert [e["reason"] for e in cluster.events("empty")].count("JobRejected") == 1
    cluster.patch(
        "empty",
        {
            "spec": {
                "jobTemplate": {
                    "spec": {
                        "template": {"spec": {"containers": [{"name": "run", "image": "alpine"}]}}
                    }
                }
            }
        },
    )
    fixed = cluster.wait_state("empty", "Ready")
    assert "Stalled" not in conditions(fixed)


def test_jobs_of_others_are_not_watched(cluster: Cluster, operator: OperatorProcess) -> None:
    cluster.batch.create_namespaced_job(
        cluster.namespace,
        manifest(
            {
                "metadata": {"name": "bystander", "annotations": {OUTCOME_ANNOTATION: COMPLETE}},
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "c", "image": "busybox"}],
                        }
                    }
                },
            }
        ),
    )
    cluster.create(reactive_job("mine", outcome_template(COMPLETE)))
    ours = current_job(cluster, cluster.wait_state("mine", "Ready"))["metadata"]["name"]
    eventually(
        lambda: job_condition(cluster.job("bystander") or {}, "Complete"),
        what="runner finishing it",
    )
    logs = operator.logs()
    assert f"job {cluster.namespace}/{ours} changed" in logs  # every Job event it gets is logged
    assert "bystander" not in logs  # the server never sent it: label selector on the watch

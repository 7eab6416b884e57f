"""Run control on the real API server: concurrency policy, suspend, reruns, history limits,
``status.history``, and the refusals at admission. The stand-in kubelet runs no suspended Job."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from reactivejob.core.naming import job_name
from reactivejob_api.vocabulary import (
    ANNOTATION_GENERATION,
    ANNOTATION_HASH,
    ANNOTATION_HELD,
    ANNOTATION_RERUN,
)
from testbed.harness import COMPLETE, DELAY_ANNOTATION, FAILED, OUTCOME_ANNOTATION, OperatorProcess
from testbed.harness.paused_operator import AFTER_JOB_CREATE, PAUSED_MARK
from tests.integration.kube_helpers import Cluster, JobAdditions, conditions, eventually
from tests.samples import reactive_job, simple_template

REV = "testing.batch.cs.sap.com/rev"
TEST_FINALIZER = "testing.batch.cs.sap.com/hold"


def template(rev: int, outcome: str = COMPLETE, delay: float = 0, **spec: Any) -> dict[str, Any]:
    annotations = {OUTCOME_ANNOTATION: outcome, REV: str(rev)}
    if delay:
        annotations[DELAY_ANNOTATION] = str(delay)
    body = simple_template(**annotations)
    body["spec"].update(spec)
    return body


def change(
    cluster: Cluster, name: str, rev: int, outcome: str = COMPLETE, delay: float = 0
) -> None:
    annotations = {OUTCOME_ANNOTATION: outcome, REV: str(rev), DELAY_ANNOTATION: str(delay)}
    cluster.patch(name, {"spec": {"jobTemplate": {"metadata": {"annotations": annotations}}}})


def finished(job: dict[str, Any] | None) -> bool:
    conditions_ = ((job or {}).get("status") or {}).get("conditions") or []
    return any(c["type"] in (COMPLETE, FAILED) and c["status"] == "True" for c in conditions_)


def rev_of(job: dict[str, Any]) -> str:
    return str(job["metadata"]["annotations"][REV])


def handled(cluster: Cluster, name: str, token: str) -> dict[str, Any] | None:
    obj = cluster.get(name)
    status = (obj or {}).get("status") or {}
    done = status.get("lastHandledRerun") == token and status.get("state") == "Ready"
    return obj if done else None


def current_job(cluster: Cluster, name: str) -> dict[str, Any]:
    obj = cluster.get(name)
    assert obj is not None
    job = cluster.job(obj["status"]["currentJobName"])
    assert job is not None
    return job


def test_allow_lets_the_old_job_run_beside_the_new_one(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    with JobAdditions(cluster) as watch:
        uid = cluster.create(reactive_job("allow", template(1, delay=3)))["metadata"]["uid"]
        eventually(lambda: len(cluster.jobs(uid)) == 1, what="the first Job")
        change(cluster, "allow", 2, delay=1)
        cluster.wait_state("allow", "Ready", timeout=30)
        jobs = cluster.jobs(uid)
        assert sorted(rev_of(j) for j in jobs) == ["1", "2"]
        eventually(lambda: all(finished(j) for j in cluster.jobs(uid)), what="both Jobs run")
        most, names = watch.most_running_at_once(uid)
    assert most == 2, f"Allow should overlap, saw {names}"


@pytest.mark.parametrize("policy", ["Forbid", "Replace"])
def test_forbid_and_replace_never_run_two_jobs_at_once(
    cluster: Cluster, operator: OperatorProcess, policy: str
) -> None:
    name = policy.lower()
    # The first Job runs until the test finishes it (no outcome for the stand-in kubelet), and
    # under Replace a finalizer of the test's keeps it while it is being deleted: each waiting
    # step lasts until the test has seen it.
    first_template = simple_template(**{REV: "1"})
    if policy == "Replace":
        first_template["metadata"]["finalizers"] = [TEST_FINALIZER]
    body = reactive_job(name, first_template)
    body["spec"]["concurrencyPolicy"] = policy
    with JobAdditions(cluster) as watch:
        uid = cluster.create(body)["metadata"]["uid"]
        first: dict[str, Any] = eventually(
            lambda: next(iter(cluster.jobs(uid)), None), what="the first Job"
        )
        old_name = first["metadata"]["name"]
        change(cluster, name, 2)
        waiting = eventually(
            lambda: (
                (o := cluster.get(name))
                and conditions(o).get("Ready", {}).get("reason") == "WaitingForPreviousRun"
                and o
            ),
            what="the status saying the new run waits",
        )
        assert waiting["status"]["history"][0]["result"] == "Waiting"
        new = cluster.job(waiting["status"]["currentJobName"])
        assert new is not None and rev_of(new) == "2"
        assert new["spec"]["suspend"] is True and new["metadata"]["annotations"][ANNOTATION_HELD]
        job_patch: dict[str, Any]
        if policy == "Forbid":
            job_patch = {"metadata": {"annotations": {OUTCOME_ANNOTATION: COMPLETE}}}
        else:
            eventually(
                lambda: (cluster.job(old_name) or {}).get("metadata", {}).get("deletionTimestamp"),
                what="the old Job being deleted",
            )
            assert (cluster.job(new["metadata"]["name"]) or {})["spec"]["suspend"] is True
            job_patch = {"metadata": {"finalizers": None}}
        cluster.batch.patch_namespaced_job(old_name, cluster.namespace, job_patch)
        obj = cluster.wait_state(name, "Ready", timeout=30)
        most, names = watch.most_running_at_once(uid)
        old = cluster.job(old_name)
        events = [(kind, job, runs) for kind, owner, job, runs in watch.timeline if owner == uid]
    assert most == 1, f"two Jobs ran at once: {names}"
    newest = current_job(cluster, name)
    assert newest["metadata"]["name"] == new["metadata"]["name"]
    assert newest["spec"]["suspend"] is False
    assert ANNOTATION_HELD not in newest["metadata"]["annotations"]
    history = obj["status"]["history"]
    assert [(h["jobName"], h["result"]) for h in history] == [
        (newest["metadata"]["name"], "Succeeded"),
        (old_name, "Succeeded" if policy == "Forbid" else "Cancelled"),
    ]
    resumed = next(
        i for i, (_, job, runs) in enumerate(events) if job == new["metadata"]["name"] and runs
    )
    if policy == "Forbid":
        assert finished(old), "Forbid lets the old Job finish"
        done = next(i for i, (_, job, runs) in enumerate(events) if job == old_name and not runs)
        assert resumed > done
    else:
        assert old is None, "Replace deletes the old Job"
        gone = next(
            i for i, (kind, job, _) in enumerate(events) if (kind, job) == ("DELETED", old_name)
        )
        assert resumed > gone


def test_a_rerun_token_makes_exactly_one_job_each(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    uid = cluster.create(reactive_job("again", template(1)))["metadata"]["uid"]
    cluster.wait_state("again", "Ready")
    # The second t1 comes with a label change, so the object is reconciled again with it.
    for poke, token, expected in (("a", "t1", 2), ("b", "t1", 2), ("c", "t2", 3)):
        metadata = {"annotations": {ANNOTATION_RERUN: token}, "labels": {"poke": poke}}
        cluster.patch("again", {"metadata": metadata})
        obj = eventually(
            functools.partial(handled, cluster, "again", token), what=f"rerun {token} handled"
        )
        jobs = cluster.jobs(uid)
        assert len(jobs) == expected, [j["metadata"]["name"] for j in jobs]
        assert obj["status"]["currentJobName"] == job_name("again", uid, 1, token)
    causes = [h["cause"] for h in obj["status"]["history"]]
    assert causes == ["Rerun", "Rerun", "Created"]


def test_sigkill_between_the_rerun_job_and_its_status_leaves_one_job(
    cluster: Cluster, unstarted_operator: OperatorProcess
) -> None:
    uid = cluster.create(reactive_job("crash", template(1)))["metadata"]["uid"]
    unstarted_operator.start()
    cluster.wait_state("crash", "Ready")
    unstarted_operator.stop()
    unstarted_operator.pause_at = AFTER_JOB_CREATE
    unstarted_operator.start()
    cluster.patch("crash", {"metadata": {"annotations": {ANNOTATION_RERUN: "now"}}})
    eventually(
        lambda: f"{PAUSED_MARK} {AFTER_JOB_CREATE}" in unstarted_operator.logs(),
        what="the operator paused after creating the rerun Job",
    )
    unstarted_operator.kill()
    held = cluster.get("crash")
    assert held is not None and "lastHandledRerun" not in held["status"]
    assert len(cluster.jobs(uid)) == 2
    unstarted_operator.pause_at = None
    unstarted_operator.start()
    obj = eventually(
        lambda: (o := cluster.get("crash")) and o["status"].get("lastHandledRerun") == "now" and o,
        what="the rerun recorded after the restart",
    )
    jobs = cluster.jobs(uid)
    assert [j["metadata"]["name"] for j in jobs] == [
        job_name("crash", uid, 1),
        job_name("crash", uid, 1, "now"),
    ]
    assert obj["status"]["history"][0]["jobName"] == job_name("crash", uid, 1, "now")
    assert obj["status"]["history"][0]["cause"] == "Rerun"


def test_suspend_holds_changes_and_resume_runs_only_the_last(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    uid = cluster.create(reactive_job("paused", template(1)))["metadata"]["uid"]
    cluster.wait_state("paused", "Ready")
    cluster.patch("paused", {"spec": {"suspend": True}})
    for rev in (2, 3):
        change(cluster, "paused", rev)
        obj = cluster.wait_state("paused", "Suspended")
        assert conditions(obj)["Suspended"]["status"] == "True"
        assert "Stalled" not in conditions(obj) and "Reconciling" not in conditions(obj)
    assert [rev_of(j) for j in cluster.jobs(uid)] == ["1"]
    cluster.patch("paused", {"spec": {"suspend": False}})
    obj = cluster.wait_state("paused", "Ready")
    assert "Suspended" not in conditions(obj)
    jobs = sorted(
        cluster.jobs(uid), key=lambda j: int(j["metadata"]["annotations"][ANNOTATION_GENERATION])
    )
    assert [rev_of(j) for j in jobs] == ["1", "3"]
    assert jobs[1]["metadata"]["annotations"][ANNOTATION_GENERATION] == str(
        obj["metadata"]["generation"]
    )


def test_history_limits_keep_the_right_jobs_and_the_newest(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    body = reactive_job("limited", template(1, COMPLETE))
    body["spec"].update(successfulJobsHistoryLimit=1, failedJobsHistoryLimit=2)
    uid = cluster.create(body)["metadata"]["uid"]
    outcomes = [COMPLETE, FAILED, COMPLETE, FAILED, FAILED]
    names = []
    for rev, outcome in enumerate(outcomes, start=1):
        if rev > 1:
            change(cluster, "limited", rev, outcome)
        obj = cluster.wait_state("limited", "Ready" if outcome == COMPLETE else "Error")
        names.append(obj["status"]["currentJobName"])
    # Succeeded: runs 1 and 3, limit 1 keeps run 3. Failed: runs 2, 4, 5, limit 2 keeps 4 and 5.
    expected = sorted([names[2], names[3], names[4]])
    eventually(
        lambda: sorted(j["metadata"]["name"] for j in cluster.jobs(uid)) == expected,
        what=f"only {expected} left",
    )
    # The newest is kept even at limit 0.
    cluster.patch(
        "limited", {"spec": {"failedJobsHistoryLimit": 0, "successfulJobsHistoryLimit": 0}}
    )
    eventually(
        lambda: [j["metadata"]["name"] for j in cluster.jobs(uid)] == [names[4]],
        what="only the newest Job left",
    )
    final = cluster.get("limited")
    assert final is not None
    assert [h["jobName"] for h in final["status"]["history"]] == names[::-1]


def test_history_outlives_ttl_is_capped_and_survives_a_restart(
    cluster: Cluster, unstarted_operator: OperatorProcess
) -> None:
    unstarted_operator.start()
    body = reactive_job("kept", template(0, ttlSecondsAfterFinished=0))
    uid = cluster.create(body)["metadata"]["uid"]
    names = [cluster.wait_state("kept", "Ready")["status"]["currentJobName"]]
    for rev in range(1, 12):
        change(cluster, "kept", rev, FAILED if rev == 11 else COMPLETE)
        obj = cluster.wait_state("kept", "Error" if rev == 11 else "Ready")
        names.append(obj["status"]["currentJobName"])
    eventually(
        lambda: [j["metadata"]["name"] for j in cluster.jobs(uid)] == [names[-1]],
        what="TTL removing all but the newest Job",
    )
    obj = eventually(
        lambda: (
            (o := cluster.get("kept")) and o["status"]["history"][1]["result"] == "Succeeded" and o
        ),
        what="the history settled",
    )
    history = obj["status"]["history"]
    assert [h["jobName"] for h in history] == names[::-1][:10]  # 12 runs, the last 10
    assert [h["result"] for h in history] == ["Failed"] + ["Succeeded"] * 9
    assert all(h["startTime"] and h["completionTime"] for h in history)
    assert (
        history[0]["templateHash"]
        == current_job(cluster, "kept")["metadata"]["annotations"][ANNOTATION_HASH]
    )
    unstarted_operator.stop()
    unstarted_operator.start()
    change(cluster, "kept", 12)
    after = cluster.wait_state("kept", "Ready")
    assert after["status"]["history"][1:] == history[:9]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"successfulJobsHistoryLimit": -1}, "spec.successfulJobsHistoryLimit"),
        ({"failedJobsHistoryLimit": -2}, "spec.failedJobsHistoryLimit"),
        ({"concurrencyPolicy": "Sometimes"}, "spec.concurrencyPolicy"),
    ],
)
def test_bad_run_control_is_refused_at_admission_naming_the_field(
    cluster: Cluster, spec: dict[str, Any], field: str
) -> None:
    body = reactive_job("bad", template(1))
    body["spec"].update(spec)
    with pytest.raises(ApiException) as refused:
        cluster.create(body)
    assert refused.value.status == 422
    assert field in str(refused.value.body)
    assert cluster.get("bad") is None

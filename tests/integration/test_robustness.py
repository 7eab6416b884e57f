"""Hard requirements: crash safety, takeover from the Go operator, large templates, conflicts."""

from __future__ import annotations

import collections
import contextlib
import functools
import json
import os
import random
import threading
import time
from typing import Any

from kubernetes import client

from reactivejob.core.naming import job_name
from reactivejob_api import ApiError, Connection, ReactiveJobClient
from reactivejob_api.vocabulary import (
    ANNOTATION_GENERATION,
    ANNOTATION_HASH,
    FINALIZER,
    LABEL_CONTROLLER_NAME,
    LABEL_CONTROLLER_UID,
)
from testbed import ControlPlane
from testbed.harness.kubelet import COMPLETE, OUTCOME_ANNOTATION
from testbed.harness.operator_process import OperatorProcess
from testbed.harness.paused_operator import (
    AFTER_JOB_CREATE,
    BEFORE_FINALIZER_ADD,
    PAUSED_MARK,
    SLOW_FINALIZER_WRITE,
)
from tests.integration.kube_helpers import (
    Cluster,
    JobAdditions,
    conditions,
    eventually,
    job_create_webhook,
    manifest,
)
from tests.samples import reactive_job, simple_template

REV = "testing.batch.cs.sap.com/rev"


def rev_patch(rev: int) -> dict[str, Any]:
    return {"spec": {"jobTemplate": {"metadata": {"annotations": {REV: str(rev)}}}}}


def assert_one_job_per_generation(cluster: Cluster, uid: str) -> list[dict[str, Any]]:
    jobs = cluster.jobs(uid)
    generations = collections.Counter(
        j["metadata"]["annotations"][ANNOTATION_GENERATION] for j in jobs
    )
    duplicates = {g: n for g, n in generations.items() if n > 1}
    assert not duplicates, f"more than one Job for generation(s) {duplicates}"
    return jobs


def assert_runs_are_sound(
    name: str, uid: str, jobs: list[dict[str, Any]], added: list[dict[str, Any]], changes: int
) -> None:
    """What "no duplicate" means beyond one Job per generation: a second Job for the same
    template under another generation, an older generation's Job created after a newer one, or
    a Job under a name a retried create would not meet, would each slip past that count."""
    hashes = [j["metadata"]["annotations"][ANNOTATION_HASH] for j in jobs]
    assert len(set(hashes)) == len(hashes), f"two Jobs for one template: {hashes}"
    for job in jobs:
        generation = int(job["metadata"]["annotations"][ANNOTATION_GENERATION])
        assert job["metadata"]["name"] == job_name(name, uid, generation)
    order = [int(m["annotations"][ANNOTATION_GENERATION]) for m in added]
    assert order == sorted(order), f"Jobs were created out of generation order: {order}"
    assert sorted(m["name"] for m in added) == sorted(j["metadata"]["name"] for j in jobs)
    assert len(jobs) <= changes + 1, f"{len(jobs)} Jobs for {changes} template changes"


def paused_count(operator: OperatorProcess) -> int:
    return operator.logs().count(f"{PAUSED_MARK} {AFTER_JOB_CREATE}")


def paused_exactly(operator: OperatorProcess, times: int) -> bool:
    return paused_count(operator) == times


def test_sigkill_at_any_point_loses_nothing_and_duplicates_nothing(
    cluster: Cluster, unstarted_operator: OperatorProcess
) -> None:
    seed = int(os.environ.get("REACTIVEJOB_KILL_SEED", random.randrange(1 << 30)))
    chance = random.Random(seed)
    print(f"kill seed: {seed} (REACTIVEJOB_KILL_SEED={seed} repeats this run)")
    # Some rounds kill at a random instant; these kill exactly between the Job create and the
    # status write, the step a crash is most likely to leave half done.
    exact_rounds = {2, 5, 7}
    with JobAdditions(cluster) as additions:
        cluster.create(
            reactive_job("crashy", simple_template(**{OUTCOME_ANNOTATION: COMPLETE, REV: "0"}))
        )
        uid = cluster.get("crashy")["metadata"]["uid"]  # type: ignore[index]
        last = changes = 0
        for round_ in range(1, 9):
            exact = round_ in exact_rounds
            unstarted_operator.pause_at = AFTER_JOB_CREATE if exact else None
            unstarted_operator.start()
            if exact or chance.random() < 0.7:  # most rounds change the template meanwhile
                last, changes = round_, changes + 1
                cluster.patch("crashy", rev_patch(last))
            if exact:
                expected = len(exact_rounds & set(range(round_ + 1)))
                eventually(
                    functools.partial(paused_exactly, unstarted_operator, expected),
                    what=f"round {round_}: the operator paused after creating a Job",
                )
            else:
                time.sleep(chance.uniform(0.0, 0.6))  # before, during or after a reconcile
            unstarted_operator.kill()
            assert_one_job_per_generation(cluster, uid)
        paused = paused_count(unstarted_operator)
        assert paused == len(exact_rounds), f"fault point hit {paused} times"
        unstarted_operator.pause_at = None
        unstarted_operator.start()
        obj = cluster.wait_state("crashy", "Ready")
        jobs = assert_one_job_per_generation(cluster, uid)
        eventually(lambda: len(additions.of(uid)) == len(jobs), what="the watch seeing every Job")
        assert_runs_are_sound("crashy", uid, jobs, additions.of(uid), changes)
    newest = cluster.job(obj["status"]["currentJobName"])
    assert newest is not None
    assert newest["metadata"]["annotations"][REV] == str(last)  # no lost update
    assert newest["metadata"]["annotations"][ANNOTATION_GENERATION] == str(
        obj["metadata"]["generation"]
    )
    protected = [
        j["metadata"]["name"] for j in jobs if FINALIZER in (j["metadata"].get("finalizers") or [])
    ]
    eventually(
        lambda: (
            [
                j["metadata"]["name"]
                for j in cluster.jobs(uid)
                if FINALIZER in (j["metadata"].get("finalizers") or [])
            ]
            == [newest["metadata"]["name"]]
        ),
        what=f"only the newest Job protected (was {protected})",
    )


def go_operator_job(
    name: str, owner: dict[str, Any], generation: int, go_hash: str
) -> dict[str, Any]:
    """A Job exactly as the Go operator leaves it: generateName-style name, labels, annotations
    (with its own hash of Go's JSON), the finalizer, no owner reference."""
    template = owner["spec"]["jobTemplate"]
    return {
        "metadata": {
            "name": name,
            "labels": {
                **(template.get("metadata", {}).get("labels") or {}),
                LABEL_CONTROLLER_UID: owner["metadata"]["uid"],
                LABEL_CONTROLLER_NAME: owner["metadata"]["name"],
            },
            "annotations": {
                **(template.get("metadata", {}).get("annotations") or {}),
                ANNOTATION_GENERATION: str(generation),
                ANNOTATION_HASH: go_hash,
            },
            "finalizers": [FINALIZER],
        },
        "spec": template["spec"],
    }


def test_takeover_from_the_go_operator_reruns_nothing(
    cluster: Cluster, unstarted_operator: OperatorProcess
) -> None:
    body = reactive_job("legacy", simple_template(**{OUTCOME_ANNOTATION: COMPLETE, REV: "1"}))
    body["metadata"]["finalizers"] = [FINALIZER]
    cluster.create(body)
    cluster.patch("legacy", rev_patch(2))  # generation 2: the Go operator ran twice
    owner = cluster.get("legacy")
    assert owner is not None
    assert owner["metadata"]["generation"] == 2
    older = go_operator_job("legacy-q9w3e", owner, 1, "1" * 64)
    newest = go_operator_job("legacy-x7k2p", owner, 2, "2" * 64)
    for job in (older, newest):
        cluster.batch.create_namespaced_job(cluster.namespace, manifest(job))
    eventually(lambda: conditions_of(cluster.job("legacy-x7k2p")), what="the Go-era Job completing")
    go_ready = {
        "type": "Ready",
        "status": "True",
        "reason": "Ready",  # the Go operator's reason is the state; its message "<reason>: <msg>"
        "message": "CompletionsReached: Reached expected number of pods",
    }
    go_status = {
        "observedGeneration": 2,
        "state": "Ready",
        "currentJobName": "legacy-x7k2p",
        "conditions": [go_ready],
    }
    cluster.objects.patch_namespaced_custom_object_status(
        "batch.cs.sap.com",
        "v1alpha1",
        cluster.namespace,
        "reactivejobs",
        "legacy",
        {"status": go_status},
    )

    unstarted_operator.start()
    adopted = eventually(
        lambda: (
            (o := cluster.get("legacy"))
            and conditions(o)["Ready"]["reason"] == "CompletionsReached"
            and o
        ),
        what="our operator rewriting the status",
    )
    assert adopted["status"]["currentJobName"] == "legacy-x7k2p"
    # By generation: both were created within one second, and creationTimestamp ties would fall
    # back to the server's name order, which happens to match.
    by_generation = sorted(
        cluster.jobs(owner["metadata"]["uid"]),
        key=lambda j: int(j["metadata"]["annotations"][ANNOTATION_GENERATION]),
    )
    assert [j["metadata"]["name"] for j in by_generation] == ["legacy-q9w3e", "legacy-x7k2p"]
    eventually(
        lambda: (
            FINALIZER
            not in (cluster.job("legacy-q9w3e") or {"metadata": {}})["metadata"].get(
                "finalizers", []
            )
        ),
        what="the superseded Go-era Job released",
    )
    # Adopted: each carries our controller reference now, and an Event says so.
    for name in ("legacy-q9w3e", "legacy-x7k2p"):
        controllers = eventually(functools.partial(controllers_of, cluster, name),
                                 what=f"{name} adopted")  # fmt: skip
        assert [(r["kind"], r["uid"]) for r in controllers] == [
            ("ReactiveJob", owner["metadata"]["uid"])
        ]
    adoptions = eventually(
        lambda: [e for e in cluster.events("legacy") if e["reason"] == "AdoptedJob"] or None,
        what="the AdoptedJob Events",
    )
    assert sorted(n for e in adoptions for n in ("legacy-q9w3e", "legacy-x7k2p")
                  if n in e["message"]) == ["legacy-q9w3e", "legacy-x7k2p"]  # fmt: skip
    # The run is recorded with our hash of its template, so a change of spec that leaves the
    # template alone (a run-control field) runs nothing, though the generation moves.
    assert adopted["status"]["history"][0]["jobName"] == "legacy-x7k2p"
    cluster.patch("legacy", {"spec": {"concurrencyPolicy": "Allow"}})
    unchanged = cluster.wait_state("legacy", "Ready")
    assert unchanged["metadata"]["generation"] == 3
    assert len(cluster.jobs(owner["metadata"]["uid"])) == 2
    # The first change after the takeover runs a Job of ours, as the Go operator would have.
    cluster.patch("legacy", rev_patch(3))
    obj = cluster.wait_state("legacy", "Ready")
    assert obj["status"]["currentJobName"] not in ("legacy-q9w3e", "legacy-x7k2p")
    assert len(cluster.jobs(owner["metadata"]["uid"])) == 3


def test_a_job_forged_under_the_next_runs_name_is_refused_and_never_read(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    """The next Job's name is predictable (uid and generation), and labels can be copied: a
    Job put there first, controlled by another object, must not pass for the run."""
    cluster.create(reactive_job("target", simple_template(**{OUTCOME_ANNOTATION: COMPLETE})))
    uid = cluster.wait_state("target", "Ready")["metadata"]["uid"]
    decoy = cluster.core.create_namespaced_config_map(
        cluster.namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="decoy"))
    )
    name = job_name("target", uid, 2)
    forged = {
        "metadata": {
            "name": name,
            "labels": {LABEL_CONTROLLER_UID: uid, LABEL_CONTROLLER_NAME: "target"},
            "annotations": {ANNOTATION_GENERATION: "2", OUTCOME_ANNOTATION: COMPLETE},
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "name": "decoy",
                    "uid": decoy.metadata.uid,  # type: ignore[union-attr]
                    "controller": True,
                }
            ],
        },
        "spec": simple_template()["spec"],
    }
    cluster.batch.create_namespaced_job(cluster.namespace, manifest(forged))
    eventually(lambda: conditions_of(cluster.job(name)), what="the forged Job completing")
    cluster.patch("target", rev_patch(2))
    obj = cluster.wait_state("target", "Error")
    found = conditions(obj)
    assert found["Stalled"]["reason"] == "JobRejected"
    assert f"a Job named {name} exists and does not belong" in found["Ready"]["message"]
    assert (
        name in found["ForeignJobs"]["message"]
        and "ConfigMap decoy" in found["ForeignJobs"]["message"]
    )
    assert obj["status"]["currentJobName"] != name
    assert [e["reason"] for e in cluster.events("target")].count("ControlledElsewhere") == 1
    left = cluster.job(name)  # untouched: not deleted, not adopted
    assert left is not None
    assert [r["kind"] for r in left["metadata"]["ownerReferences"]] == ["ConfigMap"]


def controllers_of(cluster: Cluster, name: str) -> list[dict[str, Any]] | None:
    job = cluster.job(name) or {"metadata": {}}
    found = [r for r in job["metadata"].get("ownerReferences", []) if r.get("controller")]
    return found or None


def conditions_of(job: dict[str, Any] | None) -> bool:
    return any(
        c["type"] == "Complete" for c in ((job or {}).get("status") or {}).get("conditions") or []
    )


def test_a_400_kb_template_reconciles_and_no_spec_copy_lands_in_annotations(
    cluster: Cluster, unstarted_operator: OperatorProcess
) -> None:
    template = simple_template(**{OUTCOME_ANNOTATION: COMPLETE})
    container = template["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [{"name": f"SETTING_{i:05d}", "value": "x" * 100} for i in range(3300)]
    size = len(json.dumps(reactive_job("big", template)).encode())  # what goes over the wire
    assert size > 400_000
    unstarted_operator.start()
    cluster.create(reactive_job("big", template))
    obj = cluster.wait_state("big", "Ready", timeout=60)
    job = cluster.job(obj["status"]["currentJobName"])
    assert job is not None
    assert len(job["spec"]["template"]["spec"]["containers"][0]["env"]) == 3300
    annotations = obj["metadata"].get("annotations") or {}
    assert not [key for key in annotations if "kopf" in key], annotations
    assert sum(len(k) + len(v) for k, v in annotations.items()) < 1024


def test_concurrent_writers_cause_retries_not_losses(
    cluster: Cluster, unstarted_operator: OperatorProcess, control_plane: ControlPlane
) -> None:
    """Another controller keeps changing the ReactiveJob's labels and its own finalizer while
    the operator works. Label churn must not disturb the operator at all (its finalizer writes
    are guarded by the finalizer list, not the resourceVersion); finalizer churn makes some
    writes fail, and those are retried until they pass. Nothing is lost or duplicated."""
    stop = threading.Event()
    cluster.create(
        reactive_job("contended", simple_template(**{OUTCOME_ANNOTATION: COMPLETE, REV: "0"}))
    )
    uid = cluster.get("contended")["metadata"]["uid"]  # type: ignore[index]
    churned = 0

    def churn() -> None:
        nonlocal churned
        mine = "example.com/churn-"
        with ReactiveJobClient(Connection.from_kubeconfig(control_plane.kubeconfig)) as other:
            while not stop.is_set():
                meta = other.get_json("contended", cluster.namespace)["metadata"]
                current = meta.get("finalizers")
                # A new name each time: the list never comes back to a value seen before, so a
                # stale guard cannot pass by chance (no ABA).
                toggled = [f for f in current or [] if not f.startswith(mine)]
                toggled.append(f"{mine}{churned}")
                guarded = [
                    {"op": "test", "path": "/metadata/finalizers", "value": current},
                    {"op": "add", "path": "/metadata/finalizers", "value": toggled},
                    {"op": "add", "path": "/metadata/labels", "value": {"churn": str(churned)}},
                ]
                with contextlib.suppress(ApiError):  # it lost a race itself: read and try again
                    other.patch("contended", cluster.namespace, guarded, type="json")
                    churned += 1

    writer = threading.Thread(target=churn)
    writer.start()
    try:
        # The first finalizer write lands half a second after its decision, so the churn surely
        # changes the list meanwhile: contention is made certain, not left to timing.
        unstarted_operator.pause_at = SLOW_FINALIZER_WRITE
        unstarted_operator.start()
        for rev in (1, 2, 3):
            cluster.patch("contended", rev_patch(rev))
            time.sleep(0.5)
        obj = cluster.wait_state("contended", "Ready", timeout=60)
    finally:
        stop.set()
        writer.join()
    jobs = assert_one_job_per_generation(cluster, uid)
    newest = cluster.job(obj["status"]["currentJobName"])
    assert newest is not None
    assert newest["metadata"]["annotations"][REV] == "3"
    assert FINALIZER in (cluster.get("contended") or {})["metadata"]["finalizers"]
    retried = unstarted_operator.logs().count("changed meanwhile")
    print(f"churn writes: {churned}; operator writes retried: {retried}; jobs: {len(jobs)}")
    assert churned > 0  # the other writer really wrote meanwhile
    assert retried >= 1  # and the operator really lost a race and retried


def test_server_errors_are_retried_with_backoff_until_they_pass(
    cluster: Cluster, unstarted_operator: OperatorProcess, kube: client.ApiClient
) -> None:
    """A Job-admission webhook that is down makes the real API server answer 500 to every Job
    create; the operator keeps the ReactiveJob and retries until the webhook is gone."""
    admission = client.AdmissionregistrationV1Api(kube)
    webhook_name = f"down-{cluster.namespace}"[:63]
    nothing_listens = {"url": "https://127.0.0.1:1/validate"}
    admission.create_validating_webhook_configuration(
        job_create_webhook(webhook_name, "down.example.com", nothing_listens, cluster.namespace)
    )
    try:
        unstarted_operator.start()
        cluster.create(reactive_job("patient", simple_template(**{OUTCOME_ANNOTATION: COMPLETE})))
        eventually(
            lambda: unstarted_operator.logs().count("failed calling webhook") >= 3,
            what="three failed attempts",
        )
        obj = cluster.get("patient")
        assert obj is not None
        assert cluster.jobs(obj["metadata"]["uid"]) == []
    finally:
        admission.delete_validating_webhook_configuration(webhook_name)
    obj = cluster.wait_state("patient", "Ready", timeout=90)
    assert len(cluster.jobs(obj["metadata"]["uid"])) == 1
    assert "500 InternalError" in unstarted_operator.logs()


def test_deleted_during_its_first_reconcile_it_gets_no_job(
    cluster: Cluster, unstarted_operator: OperatorProcess
) -> None:
    """Deleted before our finalizer is on it, it is gone at once; the finalizer write then
    meets NotFound, and that must end the reconcile, not lead on to a create."""
    unstarted_operator.pause_at = BEFORE_FINALIZER_ADD
    unstarted_operator.start()
    with JobAdditions(cluster) as additions:
        created = cluster.create(
            reactive_job("brief", simple_template(**{OUTCOME_ANNOTATION: COMPLETE}))
        )
        eventually(
            lambda: f"{PAUSED_MARK} {BEFORE_FINALIZER_ADD}" in unstarted_operator.logs() or None,
            what="the reconcile about to add its finalizer",
        )
        cluster.delete("brief")
        time.sleep(4.5)  # the held write goes out 3 s after the mark; a create would follow it
        assert additions.of(created["metadata"]["uid"]) == []
    assert ": creating job " not in unstarted_operator.logs()


def test_sigterm_shuts_down_cleanly(cluster: Cluster, unstarted_operator: OperatorProcess) -> None:
    unstarted_operator.start()
    cluster.create(reactive_job("calm", simple_template(**{OUTCOME_ANNOTATION: COMPLETE})))
    cluster.wait_state("calm", "Ready")
    assert unstarted_operator.stop() == 0
    logs = unstarted_operator.logs()
    assert "Activity 'build_registry.<locals>.cleanup' succeeded." in logs  # workers, HTTP closed
    assert "Root tasks are stopped: finishing normally" in logs

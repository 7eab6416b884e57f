"""The operator's Kueue settings on the real API server, without Kueue (real Kueue, with real
Pods, is tested on the real node: tests/e2e/test_queued_with_kueue.py).

- ``--kueue-manages-all-jobs``: every Job's suspend is Kueue's, so under Forbid the next run's
  Job is made only once the older one has finished, and never made suspended by us.
- ``--kueue`` on a cluster that does not serve Kueue's Workloads: the log says why, and every
  ReactiveJob still runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reactivejob.core.kueue import QUEUE_NAME
from reactivejob.engine.workload_cache import NOT_SERVED
from reactivejob_api.vocabulary import ANNOTATION_HELD
from testbed import ControlPlane
from testbed.harness import COMPLETE, OUTCOME_ANNOTATION, OperatorProcess
from tests.integration.kube_helpers import Cluster, JobAdditions, conditions, eventually
from tests.integration.test_run_control import REV, change, finished, rev_of
from tests.samples import reactive_job, simple_template


@pytest.fixture
def kueue_operator(
    control_plane: ControlPlane, cluster: Cluster, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[OperatorProcess]:
    process = OperatorProcess(
        control_plane.kubeconfig, [cluster.namespace], tmp_path / "operator", request.param
    )
    process.start()
    yield process
    process.stop()


@pytest.mark.parametrize("kueue_operator", [["--kueue-manages-all-jobs"]], indirect=True)
def test_replace_deletes_the_older_job_then_makes_the_next(
    cluster: Cluster, kueue_operator: OperatorProcess
) -> None:
    """The older Job is the newest that exists, and protected by our finalizer: it must be let
    go with the delete, or the foreground deletion (and so the next run) waits forever."""
    body = reactive_job("all", simple_template(**{REV: "1"}))
    body["spec"]["concurrencyPolicy"] = "Replace"
    with JobAdditions(cluster) as watch:
        uid = cluster.create(body)["metadata"]["uid"]
        first = eventually(lambda: next(iter(cluster.jobs(uid)), None), what="the first Job")
        change(cluster, "all", 2)
        done = cluster.wait_state("all", "Ready", timeout=30)
        timeline = [(kind, name) for kind, owner, name, _ in watch.timeline if owner == uid]
    new = done["status"]["currentJobName"]
    old = first["metadata"]["name"]
    assert timeline.index(("DELETED", old)) < timeline.index(("ADDED", new)), timeline
    assert [h["result"] for h in done["status"]["history"]] == ["Succeeded", "Cancelled"]


@pytest.mark.parametrize("kueue_operator", [["--kueue-manages-all-jobs"]], indirect=True)
def test_forbid_makes_the_next_job_only_once_the_older_one_has_finished(
    cluster: Cluster, kueue_operator: OperatorProcess
) -> None:
    # The first Job runs until the test finishes it (no outcome for the stand-in kubelet).
    body = reactive_job("all", simple_template(**{REV: "1"}))
    body["spec"]["concurrencyPolicy"] = "Forbid"
    with JobAdditions(cluster) as watch:
        uid = cluster.create(body)["metadata"]["uid"]
        first = eventually(lambda: next(iter(cluster.jobs(uid)), None), what="the first Job")
        change(cluster, "all", 2)

        def waiting() -> dict[str, object] | None:
            obj = cluster.get("all") or {}
            ready = conditions(obj).get("Ready") or {}
            return obj if ready.get("reason") == "WaitingForPreviousRun" else None

        obj = eventually(waiting, what="the next run waiting")
        assert first["metadata"]["name"] in conditions(obj)["Ready"]["message"]
        assert len(cluster.jobs(uid)) == 1  # not made: Kueue, not us, would start it
        old = first["metadata"]["name"]
        cluster.batch.patch_namespaced_job(
            old, cluster.namespace, {"metadata": {"annotations": {OUTCOME_ANNOTATION: COMPLETE}}}
        )
        done = cluster.wait_state("all", "Ready", timeout=30)
        most, names = watch.most_running_at_once(uid)
        added = watch.of(uid)
    assert most == 1, names
    assert [rev_of({"metadata": m}) for m in added] == ["1", "2"]
    assert all(ANNOTATION_HELD not in (m.get("annotations") or {}) for m in added)
    assert finished(cluster.job(old))
    history = done["status"]["history"]
    assert [h["result"] for h in history] == ["Succeeded", "Succeeded"]


@pytest.mark.parametrize("kueue_operator", [["--kueue"]], indirect=True)
def test_kueue_without_its_workloads_served_says_so_and_runs_every_job(
    cluster: Cluster, kueue_operator: OperatorProcess
) -> None:
    template = simple_template(**{OUTCOME_ANNOTATION: COMPLETE})
    template["metadata"]["labels"] = {QUEUE_NAME: "nowhere"}
    cluster.create(reactive_job("labelled", template))
    done = cluster.wait_state("labelled", "Ready", timeout=30)
    assert done["status"]["history"][0]["result"] == "Succeeded"
    eventually(lambda: NOT_SERVED in kueue_operator.logs(), what="the log saying why")
    assert kueue_operator.get("/readyz") == "ready\n"  # the Workload cache gates nothing

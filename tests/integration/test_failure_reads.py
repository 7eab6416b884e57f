"""A failed run's Pods are listed once, a successful run's never, and nothing at rest: counted
on the API server's audit log, the account no client can fake. (No Pod runs on this tier: the
lists come back empty, and the run says why in the Job's own words. What real Pods say is
tested on the real node.)"""

from __future__ import annotations

import time
from pathlib import Path

from kubernetes import client

from testbed import ControlPlane
from testbed.harness.kubelet import COMPLETE, FAILED, OUTCOME_ANNOTATION
from testbed.harness.operator_process import OperatorProcess
from tests.integration.audit import Request, requests_by, service_account
from tests.integration.kube_helpers import Cluster, conditions, eventually
from tests.samples import reactive_job, simple_template

REST = 5.0  # seconds watched at rest, past every requeue a settled object could have


def test_one_pod_list_per_failed_run_none_for_a_success_and_none_at_rest(
    control_plane: ControlPlane, kube: client.ApiClient, cluster: Cluster, tmp_path: Path
) -> None:
    with service_account(control_plane, kube, cluster.namespace, "operator") as (config, user):
        operator = OperatorProcess(config, [cluster.namespace], tmp_path / "operator").start()

        def pod_reads() -> list[Request]:
            return [r for r in requests_by(control_plane, user) if r.resource.startswith("pods")]

        try:
            failing = simple_template(**{OUTCOME_ANNOTATION: FAILED})
            for name in ("bad-1", "bad-2"):
                cluster.create(reactive_job(name, failing))
            cluster.create(reactive_job("good", simple_template(**{OUTCOME_ANNOTATION: COMPLETE})))
            for name in ("bad-1", "bad-2"):
                failed = cluster.wait_state(name, "Error")
                stalled = conditions(failed)["Stalled"]
                assert stalled["message"] == "Job has reached the backoff limit"  # never empty
                assert "failure" not in failed["status"]["history"][0]  # no Pod said anything
            cluster.wait_state("good", "Ready")
            listed = eventually(lambda: pod_reads() if len(pod_reads()) >= 2 else None)
            assert [(r.verb, r.namespace, r.code) for r in listed] == [
                ("list", cluster.namespace, 200)
            ] * 2
            # A second failed run of bad-1 (a rerun) is read once more.
            cluster.patch("bad-1", {"metadata": {"annotations": {"batch.cs.sap.com/rerun": "2"}}})
            eventually(
                lambda: (
                    (cluster.get("bad-1") or {}).get("status", {}).get("lastHandledRerun") == "2"
                    and cluster.wait_state("bad-1", "Error")
                )
            )
            eventually(lambda: len(pod_reads()) >= 3 or None)
            settled = pod_reads()
            time.sleep(REST)
            assert pod_reads() == settled and len(settled) == 3, settled
        finally:
            operator.stop()

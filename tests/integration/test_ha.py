"""Leader election with two real operator processes, and the metrics/readiness endpoints."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from reactivejob.naming import ANNOTATION_GENERATION
from testbed import ControlPlane
from testbed.harness.kubelet import COMPLETE, OUTCOME_ANNOTATION
from testbed.harness.operator_process import OperatorProcess
from tests.integration.kube_helpers import Cluster, eventually
from tests.samples import reactive_job, simple_template

LEASE = "reactivejob-operator.batch.cs.sap.com"
FAST = ["--lease-duration=4", "--renew-deadline=3", "--retry-period=0.5"]


@pytest.fixture
def pair(
    control_plane: ControlPlane, cluster: Cluster, tmp_path: Path
) -> Iterator[list[OperatorProcess]]:
    election = ["--leader-elect", f"--leader-election-namespace={cluster.namespace}", *FAST]
    operators = [
        OperatorProcess(control_plane.kubeconfig, [cluster.namespace], tmp_path / name, election)
        for name in ("a", "b")
    ]
    for operator in operators:
        operator.start()
    yield operators
    for operator in operators:
        operator.stop()


def leader_gauge(operator: OperatorProcess) -> float | None:
    try:
        text = operator.metrics()
    except OSError:
        return None
    found = re.search(r"^reactivejob_operator_leader (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


def the_leader(operators: list[OperatorProcess]) -> OperatorProcess:
    def single() -> OperatorProcess | None:
        leading = [op for op in operators if leader_gauge(op) == 1.0]
        return leading[0] if len(leading) == 1 else None

    return eventually(single, what="exactly one leader")


def creations(operator: OperatorProcess) -> int:
    return operator.logs().count(": creating job ")


def test_one_leads_the_other_takes_over_without_duplicates(
    pair: list[OperatorProcess], cluster: Cluster
) -> None:
    leader = the_leader(pair)
    follower = next(op for op in pair if op is not leader)
    assert leader_gauge(follower) == 0.0
    cluster.create(
        reactive_job("ha", simple_template(**{OUTCOME_ANNOTATION: COMPLETE, "rev": "1"}))
    )
    uid = cluster.wait_state("ha", "Ready")["metadata"]["uid"]
    assert (creations(leader), creations(follower)) == (1, 0)  # only the leader acted

    leader.kill()
    killed = time.monotonic()
    the_leader([follower])
    takeover = time.monotonic() - killed
    print(f"takeover after SIGKILL of the leader: {takeover:.1f}s (lease duration 4s)")
    assert takeover < 4 + 4  # the lease must expire first (4 s); then a retry or two (0.5 s each)

    cluster.patch("ha", {"spec": {"jobTemplate": {"metadata": {"annotations": {"rev": "2"}}}}})
    obj = cluster.wait_state("ha", "Ready")
    jobs = cluster.jobs(uid)
    generations = [j["metadata"]["annotations"][ANNOTATION_GENERATION] for j in jobs]
    assert sorted(generations) == ["1", "2"]  # one Job per template, none twice
    assert creations(follower) == 1
    assert obj["status"]["currentJobName"] == jobs[-1]["metadata"]["name"]


def test_a_leader_that_loses_its_lease_stops_at_once(
    pair: list[OperatorProcess], cluster: Cluster, kube: client.ApiClient
) -> None:
    leader = the_leader(pair)
    coordination = client.CoordinationV1Api(kube)
    # Someone else now holds the Lease (as after a network partition the leader did not see).
    stolen = time.monotonic()
    coordination.patch_namespaced_lease(
        LEASE,
        cluster.namespace,
        {"spec": {"holderIdentity": "somebody-else", "leaseDurationSeconds": 60}},
    )
    process = leader.process
    assert process is not None
    eventually(lambda: process.exit_code() is not None, timeout=10, what="the old leader exiting")
    print(f"old leader exited {time.monotonic() - stolen:.1f}s after losing the lease")
    assert process.exit_code() == 1
    assert "lost the lease" in leader.logs()


def test_graceful_stop_releases_the_lease_for_a_fast_successor(
    pair: list[OperatorProcess], cluster: Cluster, kube: client.ApiClient
) -> None:
    leader = the_leader(pair)
    follower = next(op for op in pair if op is not leader)
    stopped = time.monotonic()
    assert leader.stop() == 0
    the_leader([follower])
    print(f"successor leading {time.monotonic() - stopped:.1f}s after SIGTERM of the leader")
    lease = client.CoordinationV1Api(kube).read_namespaced_lease(LEASE, cluster.namespace)
    assert lease.spec is not None
    assert (lease.spec.lease_transitions or 0) >= 1


def test_metrics_and_readiness(cluster: Cluster, operator: OperatorProcess) -> None:
    assert operator.get("/readyz").strip() == "ready"
    assert operator.get("/healthz").strip() == "ok"
    cluster.create(reactive_job("counted", simple_template(**{OUTCOME_ANNOTATION: COMPLETE})))
    cluster.wait_state("counted", "Ready")
    text = operator.metrics()
    for series in (
        "reactivejob_operator_jobs_created_total 1.0",
        'reactivejob_operator_reconciles_total{result="success"}',
        "reactivejob_operator_reconcile_duration_seconds_bucket",
        "reactivejob_operator_workqueue_depth",
        "reactivejob_operator_leader 1.0",  # no leader election: always acting
    ):
        assert series in text, text

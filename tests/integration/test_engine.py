"""The watch-fed engine under the failures a cluster really has: API server restarts and
outages, expired watches, and changes faster than the cache can follow.

These tests take the API server down, so they run on a control plane of their own, never the
session's.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import re
import signal
import threading
import time
import urllib.error
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from reactivejob_api import Connection, ReactiveJobClient
from reactivejob_api.vocabulary import ANNOTATION_GENERATION, FINALIZER, LABEL_CONTROLLER_UID
from testbed import ControlPlane
from testbed.harness import (
    COMPLETE,
    DELAY_ANNOTATION,
    OUTCOME_ANNOTATION,
    OperatorProcess,
)
from tests.integration.kube_helpers import Cluster, JobAdditions, eventually
from tests.samples import reactive_job, simple_template

REV = "testing.batch.cs.sap.com/rev"


@pytest.fixture
def engine(
    own_plane: ControlPlane, own_cluster: Cluster, tmp_path: Path
) -> Iterator[OperatorProcess]:
    process = OperatorProcess(own_plane.kubeconfig, [own_cluster.namespace], tmp_path / "operator")
    process.start()
    yield process
    process.stop()
    if own_plane.processes and not any(p.name == "kube-apiserver" for p in own_plane.processes):
        own_plane.start_apiserver()  # a failed test must not leave the next one without it


def metric(operator: OperatorProcess, name: str, kind: str) -> float:
    found = re.search(rf'^{name}{{kind="{kind}"}} (\S+)$', operator.metrics(), re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def probe(operator: OperatorProcess, path: str) -> int:
    try:
        operator.get(path)
    except urllib.error.HTTPError as error:
        return error.code
    return 200


def retried(call: Callable[[], Any], timeout: float = 90.0) -> Any:
    """A client's write while the API server restarts: retried, as kubectl's user would."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except (ApiException, HTTPError, OSError) as error:
            if isinstance(error, ApiException) and error.status == 409:
                return None  # our earlier attempt got through before the connection broke
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def assert_one_job_each(cluster: Cluster, names: list[str]) -> None:
    for name in names:
        obj = cluster.wait_state(name, "Ready", timeout=120)
        jobs = cluster.jobs(obj["metadata"]["uid"])
        assert len(jobs) == 1, f"{name}: {[j['metadata']['name'] for j in jobs]}"


def test_an_expired_watch_relists_and_drops_what_was_deleted_meanwhile(
    own_plane: ControlPlane, own_cluster: Cluster, engine: OperatorProcess
) -> None:
    cluster = own_cluster
    template = simple_template(**{OUTCOME_ANNOTATION: COMPLETE})
    for name in ("kept", "ghost"):
        cluster.create(reactive_job(name, template))
    ghost = cluster.wait_state("ghost", "Ready")
    cluster.wait_state("kept", "Ready")
    [ghost_job] = cluster.jobs(ghost["metadata"]["uid"])
    assert engine.process is not None
    os.kill(engine.process.pid, signal.SIGSTOP)  # the operator sees nothing from here on
    try:
        # Deleted behind its back (its finalizer dropped by hand): its Job is left holding ours.
        cluster.patch("ghost", {"metadata": {"finalizers": []}})
        cluster.delete("ghost")
        eventually(lambda: cluster.get("ghost") is None, what="ghost deleted")
        own_plane.stop_apiserver()  # ends every watch
        own_plane.start_apiserver()
        own_plane.compact_etcd()  # and the resourceVersion it had is history now
    finally:
        os.kill(engine.process.pid, signal.SIGCONT)
    eventually(
        lambda: metric(engine, "reactivejob_operator_cache_relists_total", "ReactiveJob") >= 1,
        timeout=60,
        what="a relist after 410 Expired",
    )
    eventually(
        lambda: metric(engine, "reactivejob_operator_cache_objects", "ReactiveJob") == 1,
        what="the deleted ReactiveJob gone from the cache",
    )
    released = ghost_job["metadata"]["name"]
    eventually(
        lambda: (
            FINALIZER
            not in ((cluster.job(released) or {}).get("metadata", {}).get("finalizers") or [])
        ),
        what="the orphaned Job released",
    )
    assert cluster.get("kept") is not None
    assert probe(engine, "/readyz") == 200


def test_api_server_down_for_two_minutes_then_everything_converges(
    own_plane: ControlPlane, own_cluster: Cluster, engine: OperatorProcess
) -> None:
    """As during a control-plane upgrade: objects made just before the outage (some not yet
    reconciled) and after it all converge, with one Job each. Meanwhile the operator says it
    is not ready, but stays healthy: a restart would not bring the API server back."""
    cluster = own_cluster
    template = simple_template(**{OUTCOME_ANNOTATION: COMPLETE})
    before = [f"before-{i:02d}" for i in range(50)]
    for name in before:
        cluster.create(reactive_job(name, template))
    own_plane.stop_apiserver()
    down = time.monotonic()
    eventually(lambda: probe(engine, "/readyz") == 503, what="/readyz failing during the outage")
    while time.monotonic() - down < 120:
        assert probe(engine, "/healthz") == 200
        time.sleep(5)
    own_plane.start_apiserver()
    eventually(lambda: probe(engine, "/readyz") == 200, timeout=90, what="/readyz back")
    after = [f"after-{i:02d}" for i in range(50)]
    for name in after:
        cluster.create(reactive_job(name, template))
    assert_one_job_each(cluster, before + after)
    assert metric(engine, "reactivejob_operator_watch_restarts_total", "ReactiveJob") >= 1


def test_api_server_restart_during_a_burst_of_300(
    own_plane: ControlPlane, own_cluster: Cluster, engine: OperatorProcess
) -> None:
    cluster = own_cluster
    template = simple_template(**{OUTCOME_ANNOTATION: COMPLETE})
    names = [f"burst-{i:03d}" for i in range(300)]

    def create(name: str) -> None:
        retried(lambda: cluster.create(reactive_job(name, template)))

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(create, name) for name in names]
        eventually(lambda: sum(f.done() for f in futures) >= 100, what="a third created")
        own_plane.stop_apiserver()
        time.sleep(2)
        own_plane.start_apiserver()
        for future in futures:
            future.result()
    assert_one_job_each(cluster, names)


def created_for(additions: JobAdditions, uid: str, generation: int) -> bool:
    return any(
        m["annotations"][ANNOTATION_GENERATION] == str(generation) for m in additions.of(uid)
    )


def test_fast_changes_never_create_a_job_for_a_replaced_generation(
    own_cluster: Cluster, engine: OperatorProcess
) -> None:
    """Three template changes within 100 ms on 50 objects at once: a cache a moment behind
    must never create a Job for a generation after one for a newer generation exists."""
    cluster = own_cluster
    names = [f"fast-{i:02d}" for i in range(50)]
    template = simple_template(**{OUTCOME_ANNOTATION: COMPLETE, REV: "0"})
    with JobAdditions(cluster) as additions:
        for name in names:
            cluster.create(reactive_job(name, template))
        uids = {
            name: cluster.wait_state(name, "Ready", timeout=60)["metadata"]["uid"] for name in names
        }

        def change(name: str) -> None:
            for rev in (1, 2, 3):
                cluster.patch(
                    name, {"spec": {"jobTemplate": {"metadata": {"annotations": {REV: str(rev)}}}}}
                )
                time.sleep(0.03)

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(change, names))
        finals = {name: cluster.wait_state(name, "Ready", timeout=90) for name in names}
        for name in names:
            last = finals[name]["metadata"]["generation"]
            assert last == 4
            seen_last = functools.partial(created_for, additions, uids[name], last)
            eventually(seen_last, what=f"{name}: the watch seeing its last Job")
            order = [int(m["annotations"][ANNOTATION_GENERATION]) for m in additions.of(uids[name])]
            assert order == sorted(order), f"{name}: Jobs created out of generation order: {order}"
            assert order.count(last) == 1
            current = cluster.job(finals[name]["status"]["currentJobName"])
            assert current is not None
            assert current["metadata"]["annotations"][ANNOTATION_GENERATION] == str(last)
            assert current["metadata"]["labels"][LABEL_CONTROLLER_UID] == uids[name]


def test_the_typed_clients_wait_resumes_across_a_restart_and_a_410(
    own_plane: ControlPlane, own_cluster: Cluster, engine: OperatorProcess
) -> None:
    """The wait follows its object through an API server restart: it resumes the watch from
    the version it had, meets 410 (etcd was compacted past it meanwhile), reads the object
    afresh and still returns when the run finishes."""
    cluster = own_cluster
    template = simple_template(**{OUTCOME_ANNOTATION: COMPLETE, DELAY_ANNOTATION: "15"})
    cluster.create(reactive_job("patient", template))
    cluster.wait_state("patient", "Processing")
    outcome: dict[str, Any] = {}

    def wait() -> None:
        with ReactiveJobClient(Connection.from_kubeconfig(own_plane.kubeconfig)) as jobs:
            try:
                outcome["done"] = jobs.wait("patient", cluster.namespace, timeout=120)
            except Exception as error:  # surfaced below
                outcome["error"] = error

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    time.sleep(1)  # its watch is open
    own_plane.stop_apiserver()
    own_plane.start_apiserver()
    own_plane.compact_etcd()
    waiter.join(timeout=150)
    assert "error" not in outcome, repr(outcome.get("error"))
    assert outcome["done"].status.state == "Ready"

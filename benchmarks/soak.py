"""Soak: the API server down for minutes (a control-plane upgrade), the operator left running.

Prints what happened and exits non-zero if anything did not converge; outside CI (``make
soak``). Two leader-elected replicas; 100 ReactiveJobs: half made just before the outage, half
right after it. Then the leader is SIGKILLed: the other must take over within the lease
duration plus 5 s, and act.

    .venv/bin/python benchmarks/soak.py --minutes 10
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import urllib.error
from pathlib import Path
from typing import Any

from kubernetes import client

from testbed import ControlPlane, api_client
from testbed.harness import (
    COMPLETE,
    OUTCOME_ANNOTATION,
    JobRunner,
    OperatorProcess,
    install_reactivejob_crd,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.integration.kube_helpers import Cluster
from tests.samples import reactive_job, simple_template


def status(operator: OperatorProcess, path: str) -> int:
    try:
        operator.get(path)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0
    return 200


LEASE_DURATION = 15.0  # the defaults, as the chart runs them


class Supervised:
    """A replica restarted when it exits, as the kubelet restarts a Pod's container (a leader
    that cannot renew exits on purpose)."""

    def __init__(self, operator: OperatorProcess) -> None:
        self.operator = operator
        self.restarts = 0

    def tend(self) -> None:
        process = self.operator.process
        if process is not None and process.exit_code() is not None:
            self.restarts += 1
            self.operator.start(timeout=120, wait_ready=False)

    def leading(self) -> bool:
        try:
            text = self.operator.metrics()
        except OSError:
            return False
        return "reactivejob_operator_leader 1.0" in text


def settle(cluster: Cluster, names: list[str], replicas: list[Supervised]) -> list[str]:
    failures = []
    for name in names:
        for replica in replicas:
            replica.tend()
        try:
            obj = cluster.wait_state(name, "Ready", timeout=300)
        except AssertionError as error:
            failures.append(f"{name}: {error}")
            continue
        jobs = cluster.jobs(obj["metadata"]["uid"])
        if len(jobs) != 1:
            failures.append(f"{name}: {len(jobs)} Jobs")
    return failures


def handover(cluster: Cluster, replicas: list[Supervised], template: dict[str, Any]) -> list[str]:
    """SIGKILL the one leader: the other must take over in time, and act."""
    leaders = [r for r in replicas if r.leading()]
    if len(leaders) != 1:
        return [f"{len(leaders)} replicas lead after the outage"]
    leaders[0].operator.kill()
    killed = time.monotonic()
    other = next(r for r in replicas if r is not leaders[0])
    while not other.leading() and time.monotonic() - killed < 60:
        time.sleep(0.2)
    takeover = time.monotonic() - killed
    print(f"SIGKILL of the leader: the other took over in {takeover:.1f}s "
          f"(lease {LEASE_DURATION:.0f}s)")  # fmt: skip
    failures = [f"takeover took {takeover:.1f}s"] if takeover > LEASE_DURATION + 5 else []
    last = [f"last-{i:02d}" for i in range(10)]
    for name in last:
        cluster.create(reactive_job(name, template))
    return failures + settle(cluster, last, [other])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the API is down")
    args = parser.parse_args()
    with ControlPlane() as plane, tempfile.TemporaryDirectory() as logs:
        api = api_client(plane.kubeconfig)
        install_reactivejob_crd(api)
        client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata={"name": "soak"}))
        runner = JobRunner(api, "soak").start()
        election = ["--leader-elect", "--leader-election-namespace=soak"]
        replicas = [
            Supervised(OperatorProcess(plane.kubeconfig, ["soak"], Path(logs) / name, election))
            for name in ("a", "b")
        ]
        for replica in replicas:
            replica.operator.start()
        cluster = Cluster(api, "soak")
        template = simple_template(**{OUTCOME_ANNOTATION: COMPLETE})
        names = [f"before-{i:02d}" for i in range(50)]
        for name in names:
            cluster.create(reactive_job(name, template))
        plane.stop_apiserver()
        down = time.monotonic()
        seen: list[dict[tuple[int, int], int]] = [{}, {}]
        while time.monotonic() - down < args.minutes * 60:
            for replica, probes in zip(replicas, seen, strict=True):
                replica.tend()
                key = (status(replica.operator, "/healthz"), status(replica.operator, "/readyz"))
                probes[key] = probes.get(key, 0) + 1
            time.sleep(5)
        plane.start_apiserver()
        back = time.monotonic()
        print(f"API server down {back - down:.0f}s, two leader-elected replicas")
        for name, counted in zip("ab", seen, strict=True):
            print(f"  replica {name}: probes seen (healthz, readyz): {counted}")
        after = [f"after-{i:02d}" for i in range(50)]
        for name in after:
            cluster.create(reactive_job(name, template))
        failures = settle(cluster, names + after, replicas)
        took = time.monotonic() - back
        print(f"converged {100 - len(failures)} of 100, {took:.1f}s after the API server came "
              f"back; restarts {[r.restarts for r in replicas]}")  # fmt: skip
        failures += handover(cluster, replicas, template)
        for replica in replicas:
            now = (status(replica.operator, "/healthz"), status(replica.operator, "/readyz"))
            print(f"  probes after (healthz, readyz): {now}")
        for failure in failures:
            print(f"  FAILED {failure}")
        for replica in replicas:
            replica.operator.stop()
        runner.stop()
        return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

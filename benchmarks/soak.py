"""Soak: the API server down for minutes (a control-plane upgrade), the operator left running.

Prints what happened and exits non-zero if anything did not converge; outside CI (``make
soak``). 100 ReactiveJobs: half made just before the outage, half right after it.

    .venv/bin/python benchmarks/soak.py --minutes 10
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import urllib.error
from pathlib import Path

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the API is down")
    args = parser.parse_args()
    with ControlPlane() as plane, tempfile.TemporaryDirectory() as logs:
        api = api_client(plane.kubeconfig)
        install_reactivejob_crd(api)
        client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata={"name": "soak"}))
        runner = JobRunner(api, "soak").start()
        operator = OperatorProcess(plane.kubeconfig, ["soak"], Path(logs) / "operator").start()
        cluster = Cluster(api, "soak")
        template = simple_template(**{OUTCOME_ANNOTATION: COMPLETE})
        names = [f"before-{i:02d}" for i in range(50)]
        for name in names:
            cluster.create(reactive_job(name, template))
        plane.stop_apiserver()
        down = time.monotonic()
        seen: dict[tuple[int, int], int] = {}
        while time.monotonic() - down < args.minutes * 60:
            key = (status(operator, "/healthz"), status(operator, "/readyz"))
            seen[key] = seen.get(key, 0) + 1
            time.sleep(5)
        plane.start_apiserver()
        back = time.monotonic()
        print(f"API server down {back - down:.0f}s; probes seen (healthz, readyz): {seen}")
        after = [f"after-{i:02d}" for i in range(50)]
        for name in after:
            cluster.create(reactive_job(name, template))
        failures = []
        for name in names + after:
            try:
                obj = cluster.wait_state(name, "Ready", timeout=300)
            except AssertionError as error:
                failures.append(f"{name}: {error}")
                continue
            jobs = cluster.jobs(obj["metadata"]["uid"])
            if len(jobs) != 1:
                failures.append(f"{name}: {len(jobs)} Jobs")
        exited = operator.process.exit_code() if operator.process else None
        took = time.monotonic() - back
        print(f"converged {100 - len(failures)} of 100, {took:.1f}s after the API server came "
              f"back; the operator exited: {exited is not None}")  # fmt: skip
        after_probes = (status(operator, "/healthz"), status(operator, "/readyz"))
        print(f"probes after (healthz, readyz): {after_probes}")
        for failure in failures:
            print(f"  FAILED {failure}")
        operator.stop()
        runner.stop()
        return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

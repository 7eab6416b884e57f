"""Benchmark: control-plane start-up, and create->Job / create->Ready latency and throughput.

Prints figures; asserts nothing (targets are read by people, behaviour by tests).

    .venv/bin/python benchmarks/reconcile.py --count 200
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from kubernetes import client, config

from reactivejob_api import Connection, ReactiveJobClient
from testbed import ControlPlane
from testbed.harness import (
    COMPLETE,
    OUTCOME_ANNOTATION,
    JobRunner,
    OperatorProcess,
    install_reactivejob_crd,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.samples import reactive_job, simple_template


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100, help="ReactiveJobs to create")
    args = parser.parse_args()
    started = time.monotonic()
    with ControlPlane() as plane, tempfile.TemporaryDirectory() as logs:
        print(
            f"control plane start-up: {plane.startup_seconds:.2f}s "
            f"(process spawn to /readyz, all three components)"
        )
        configuration = client.Configuration()
        config.load_kube_config(  # type: ignore[no-untyped-call]
            str(plane.kubeconfig), client_configuration=configuration
        )
        api = client.ApiClient(configuration)
        install_reactivejob_crd(api)
        client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata={"name": "bench"}))
        runner = JobRunner(api).start()
        operator = OperatorProcess(plane.kubeconfig, ["bench"], Path(logs) / "operator").start()
        jobs = ReactiveJobClient(Connection.from_kubeconfig(plane.kubeconfig))
        created: dict[str, float] = {}
        job_seen: dict[str, float] = {}
        ready: dict[str, float] = {}
        done = threading.Event()

        def watch() -> None:
            for event in jobs.watch("bench", timeout_seconds=300):
                obj = event.object
                assert obj.metadata is not None
                name, status = obj.metadata.name or "", obj.status
                if status and status.current_job_name and name not in job_seen:
                    job_seen[name] = time.monotonic()
                if status and status.state == "Ready" and name not in ready:
                    ready[name] = time.monotonic()
                if len(ready) == args.count:
                    done.set()
                    return

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        time.sleep(0.5)
        burst = time.monotonic()
        for index in range(args.count):
            name = f"bench-{index:05d}"
            created[name] = time.monotonic()
            jobs.create(
                reactive_job(name, simple_template(**{OUTCOME_ANNOTATION: COMPLETE}), "bench")
            )
        done.wait(timeout=600)
        finished = time.monotonic()
        to_job = [job_seen[n] - created[n] for n in created if n in job_seen]
        to_ready = [ready[n] - created[n] for n in created if n in ready]
        print(f"ReactiveJobs: {args.count} created in a burst, {len(ready)} Ready")
        for label, values in (
            ("create -> Job created (status)", to_job),
            ("create -> Ready", to_ready),
        ):
            if values:
                print(
                    f"{label}: p50 {statistics.median(values) * 1000:.0f} ms, "
                    f"p95 {percentile(values, 0.95) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms"
                )
        print(f"throughput: {len(ready) / (finished - burst):.1f} ReactiveJobs/s to Ready")
        operator.stop()
        runner.stop()
        jobs.close()
    print(f"total wall time: {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

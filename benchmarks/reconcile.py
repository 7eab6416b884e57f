"""Benchmark: the operator against the API floor, on one fresh control plane.

Prints figures; asserts nothing (targets are read by people, behaviour by tests).

    .venv/bin/python benchmarks/reconcile.py --count 1000 [--memory] [--compare CMD]

- floor: what any operator must write per new ReactiveJob (finalizer, Job, status twice),
  done by 8 client threads, timed in this run before and after each operator's phases;
- converge: N new ReactiveJobs until all are Ready, then all N templates changed until all are
  Ready again; each as a multiple of the floor, with p50/p99 from create to Ready;
- API calls by verb and resource, counted by the API server (audit log of the operator's own
  ServiceAccount), then the calls in a window at rest;
- the operator's CPU time and RSS; with --memory also RSS at 10,000 small ReactiveJobs and at
  1,000 with 100 KB templates;
- config fan-out: N ReactiveJobs mounting one ConfigMap (config triggers on), which is then
  changed: the time until all have re-run, and the calls it took;
- takeover: two replicas, the leader SIGKILLed, until the other leads.
``--compare CMD`` runs another operator command through the same converge phases; ``{kubeconfig}``
and ``{namespace}`` in CMD are replaced (e.g. ``--compare "manager --kubeconfig {kubeconfig}"``).
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import contextlib
import datetime
import os
import re
import shlex
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client

from reactivejob.core.desired import desired_job
from reactivejob_api import Connection, ReactiveJob, ReactiveJobClient
from reactivejob_api.client import JobClient
from testbed import ControlPlane, api_client
from testbed.harness import (
    COMPLETE,
    OUTCOME_ANNOTATION,
    JobRunner,
    OperatorProcess,
    install_reactivejob_crd,
)
from testbed.processes import ManagedProcess

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.integration.audit import service_account
from tests.samples import reactive_job, simple_template

THREADS = 8
OPERATOR_SA = ("bench-system", "operator")
COMPARE_SA = ("bench-system", "compare")
SA_USERS = [f"system:serviceaccount:{ns}:{name}" for ns, name in (OPERATOR_SA, COMPARE_SA)]
AUDIT_POLICY: dict[str, Any] = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived", "ResponseStarted", "Panic"],
    "rules": [{"level": "Metadata", "users": SA_USERS}, {"level": "None"}],
}
FINALIZER_PATCH = {"metadata": {"finalizers": ["batch.cs.sap.com/reactivejob-operator"]}}


def say(text: str) -> None:
    print(text, flush=True)


def in_threads(items: Sequence[Any], work: Callable[[Any], object]) -> float:
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(work, items))
    return time.monotonic() - started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Clients(threading.local):
    """One HTTP connection per thread, as 8 independent clients would have."""

    def __init__(self, connection: Connection) -> None:
        self.reactive_jobs = ReactiveJobClient(connection)
        self.jobs = JobClient(connection)


def measure_floor(connection: Connection, count: int, sample: int) -> float:
    """The four writes per ReactiveJob that any operator must make, with nothing else."""
    clients = Clients(connection)
    names = [f"floor{sample}-{i:05d}" for i in range(count)]
    template = simple_template()
    made: dict[str, ReactiveJob] = {}

    def create(name: str) -> None:
        made[name] = clients.reactive_jobs.create(reactive_job(name, template, "floor"))

    in_threads(names, create)

    def writes(name: str) -> None:
        clients.reactive_jobs.patch(name, "floor", FINALIZER_PATCH)
        job = desired_job(made[name], template, "0" * 64)
        clients.jobs.create(job)
        current = job.metadata.name if job.metadata else None
        for state in ("Processing", "Ready"):
            status = {"observedGeneration": 1, "state": state, "currentJobName": current}
            clients.reactive_jobs.patch_status(name, "floor", {"status": status})

    return in_threads(names, writes)


class Floor:
    """The floor, sampled before and after each operator's run: on a shared machine it drifts by
    up to 2x within minutes, so a ratio against one sample alone says little."""

    def __init__(self, connection: Connection, count: int) -> None:
        self.connection, self.count = connection, count
        self.samples: list[float] = []
        self.sample()

    def sample(self) -> None:
        seconds = measure_floor(self.connection, self.count, len(self.samples))
        self.samples.append(seconds)
        say(f"floor sample {len(self.samples)}: {seconds:.2f}s for {self.count} x 4 writes by "
            f"{THREADS} threads ({self.count * 4 / seconds:.0f} writes/s)")  # fmt: skip

    def median(self) -> float:
        return statistics.median(self.samples)


@dataclass
class Converged:
    seconds: float
    latencies: list[float]


class ReadyWatch:
    """Records, from a watch, when each ReactiveJob of a namespace is Ready at a generation."""

    def __init__(self, connection: Connection, namespace: str) -> None:
        self.client = ReactiveJobClient(connection)
        self.namespace = namespace
        self.ready: dict[tuple[str, int], float] = {}
        self.ready_after_runs: dict[tuple[str, int], float] = {}  # (name, runs in history)
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with contextlib.suppress(Exception):  # the control plane going away at the end
            self._watch()

    def _watch(self) -> None:
        # Raw JSON, not models: the harness shares the two cores with what it measures.
        version = self.client.list_json(self.namespace, limit=1)["metadata"]["resourceVersion"]
        while not self._stop:
            stream = self.client.watch_json(
                self.namespace, resource_version=version, timeout_seconds=60
            )
            for _, obj in stream:
                meta, status = obj["metadata"], obj.get("status") or {}
                version = meta["resourceVersion"]
                generation = meta.get("generation", 0)
                ready = status.get("state") == "Ready"
                if ready and status.get("observedGeneration") == generation:
                    now = time.monotonic()
                    self.ready.setdefault((meta["name"], generation), now)
                    runs = len(status.get("history") or [])
                    self.ready_after_runs.setdefault((meta["name"], runs), now)

    def wait(
        self, names: list[str], generation: int, timeout: float, *, runs: bool = False
    ) -> float:
        """When the last of ``names`` was Ready at ``generation`` (or, with ``runs``, after
        that many runs)."""
        seen = self.ready_after_runs if runs else self.ready
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all((n, generation) in seen for n in names):
                return max(seen[(n, generation)] for n in names)
            time.sleep(0.05)
        missing = sum((n, generation) not in seen for n in names)
        what = "runs" if runs else "generation"
        raise TimeoutError(f"{missing} of {len(names)} not Ready at {what} {generation}")


def converge_new(
    connection: Connection,
    watch: ReadyWatch,
    names: list[str],
    template: dict[str, Any],
    spec: dict[str, Any] | None = None,
) -> Converged:
    clients = Clients(connection)
    started: dict[str, float] = {}

    def create(name: str) -> None:
        started[name] = time.monotonic()
        body = reactive_job(name, template, watch.namespace)
        body["spec"].update(spec or {})
        clients.reactive_jobs.create(body)

    first = time.monotonic()
    in_threads(names, create)
    last = watch.wait(names, 1, timeout=900)
    return Converged(last - first, [watch.ready[(n, 1)] - started[n] for n in names])


def converge_changed(connection: Connection, watch: ReadyWatch, names: list[str]) -> Converged:
    clients = Clients(connection)
    started: dict[str, float] = {}
    patch = {"spec": {"jobTemplate": {"metadata": {"annotations": {"bench/rev": "2"}}}}}

    def change(name: str) -> None:
        started[name] = time.monotonic()
        clients.reactive_jobs.patch(name, watch.namespace, patch)

    first = time.monotonic()
    in_threads(names, change)
    last = watch.wait(names, 2, timeout=900)
    return Converged(last - first, [watch.ready[(n, 2)] - started[n] for n in names])


def process_usage(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) and RSS in MB of a running process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return cpu, (int(rss.group(1)) / 1024 if rss else 0.0)


def calls(plane: ControlPlane, user: str, since: float, until: float) -> collections.Counter[str]:
    """Requests by verb and resource the API server received from ``user`` in [since, until)
    (monotonic times, mapped to the wall clock the audit log uses)."""
    offset = time.time() - time.monotonic()
    counted: collections.Counter[str] = collections.Counter()
    for event in plane.audit_events(user):
        when = datetime.datetime.fromisoformat(event["requestReceivedTimestamp"]).timestamp()
        if since + offset <= when < until + offset:
            ref = event.get("objectRef", {})
            resource = ref.get("resource", "?") + (
                f"/{ref['subresource']}" if ref.get("subresource") else ""
            )
            counted[f"{event['verb']} {resource}"] += 1
    return counted


def show_calls(title: str, counted: collections.Counter[str]) -> None:
    say(f"  {title}: {sum(counted.values())} calls")
    for key, number in sorted(counted.items(), key=lambda kv: -kv[1]):
        say(f"    {number:6d}  {key}")


@dataclass(frozen=True)
class Bench:
    plane: ControlPlane
    admin: Connection
    api: client.ApiClient
    count: int
    floor: Floor
    rest: float


def run_operator_phases(bench: Bench, label: str, user: str, start: Callable[[str], int]) -> None:
    """One operator (``start`` launches it on a namespace, returns its pid) through the phases."""
    plane, admin, api, count, floor, rest = (
        bench.plane, bench.admin, bench.api, bench.count, bench.floor, bench.rest,
    )  # fmt: skip
    namespace = f"bench-{label}"
    client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata={"name": namespace}))
    runner = JobRunner(api, namespace).start()
    pid = start(namespace)
    watch = ReadyWatch(admin, namespace)
    names = [f"rj-{i:05d}" for i in range(count)]
    cpu_before, _ = process_usage(pid)
    began = time.monotonic()
    new = converge_new(admin, watch, names, simple_template(**{OUTCOME_ANNOTATION: COMPLETE}))
    after_new = time.monotonic()
    cpu_new, rss_new = process_usage(pid)
    changed = converge_changed(admin, watch, names)
    after_changed = time.monotonic()
    cpu_changed, rss = process_usage(pid)
    say(f"\n== {label}: {count} ReactiveJobs")
    before = floor.samples[-1]
    for title, result in (("new, all Ready", new), ("templates changed, all Ready again", changed)):
        say(
            f"  {title}: {result.seconds:.1f}s = {result.seconds / before:.2f}x the floor before "
            f"it; create -> Ready p50 {statistics.median(result.latencies) * 1000:.0f} ms, "
            f"p99 {percentile(result.latencies, 0.99) * 1000:.0f} ms"
        )
    each = (cpu_new - cpu_before) / count * 1000
    say(f"  CPU: {cpu_new - cpu_before:.1f}s for the new ones ({each:.1f} ms each), "
        f"{cpu_changed - cpu_new:.1f}s for the changes")  # fmt: skip
    say(f"  RSS: {rss_new:.0f} MB after the new ones, {rss:.0f} MB after the changes")
    show_calls("API calls for the new ones", calls(plane, user, began, after_new))
    show_calls("API calls for the changes", calls(plane, user, after_new, after_changed))
    time.sleep(5)  # let the last status writes and events settle
    quiet = time.monotonic()
    time.sleep(rest)
    show_calls(
        f"API calls at rest ({rest:.0f}s window)", calls(plane, user, quiet, time.monotonic())
    )
    runner.stop()
    floor.sample()
    say(f"  against the floor after it: new {new.seconds / floor.samples[-1]:.2f}x, changed "
        f"{changed.seconds / floor.samples[-1]:.2f}x; against the median of all floor samples "
        f"so far: new {new.seconds / floor.median():.2f}x, changed "
        f"{changed.seconds / floor.median():.2f}x")  # fmt: skip


def memory(
    plane: ControlPlane, admin: Connection, api: client.ApiClient, kubeconfig: Path, logs: Path
) -> None:
    say("\n== memory")
    big = simple_template(**{OUTCOME_ANNOTATION: COMPLETE})
    big["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": f"SETTING_{i:04d}", "value": "x" * 90} for i in range(1000)
    ]  # about 100 KB of JSON
    for label, count, template in (
        ("10,000 small", 10_000, simple_template(**{OUTCOME_ANNOTATION: COMPLETE})),
        ("1,000 with 100 KB templates", 1_000, big),
    ):
        namespace = f"mem-{count}"
        client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata={"name": namespace}))
        runner = JobRunner(api, namespace).start()
        operator = OperatorProcess(kubeconfig, [namespace], logs / namespace).start(timeout=60)
        assert operator.process is not None
        watch = ReadyWatch(admin, namespace)
        result = converge_new(admin, watch, [f"rj-{i:05d}" for i in range(count)], template)
        _, rss = process_usage(operator.process.pid)
        say(f"  {label}: all Ready in {result.seconds:.1f}s; operator RSS {rss:.0f} MB")
        operator.stop()
        runner.stop()


def config_fan_out(bench: Bench, kubeconfig: Path, user: str, logs: Path) -> None:
    """``count`` ReactiveJobs that mount one ConfigMap, which is then changed once."""
    plane, admin, api, count = bench.plane, bench.admin, bench.api, bench.count
    namespace = "bench-config"
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata={"name": namespace}))
    shared: Any = {"metadata": {"name": "shared"}, "data": {"version": "1"}}
    core.create_namespaced_config_map(namespace, shared)
    runner = JobRunner(api, namespace).start()
    operator = OperatorProcess(
        kubeconfig, [namespace], logs / "config", ["--config-triggers", "--log-level=INFO"]
    ).start(timeout=60)
    watch = ReadyWatch(admin, namespace)
    template = simple_template(**{OUTCOME_ANNOTATION: COMPLETE})
    template["spec"]["template"]["spec"]["volumes"] = [
        {"name": "shared", "configMap": {"name": "shared"}}
    ]
    names = [f"rj-{i:05d}" for i in range(count)]
    converge_new(admin, watch, names, template, {"rerunOnConfigChange": True})
    time.sleep(2)  # the last status writes
    began = time.monotonic()
    changed: Any = {**shared, "data": {"version": "2"}}
    core.replace_namespaced_config_map("shared", namespace, changed)
    last = watch.wait(names, 2, timeout=900, runs=True)
    say(f"\n== config fan-out: one ConfigMap that {count} ReactiveJobs mount, changed once")
    say(f"  all {count} re-run and Ready again {last - began:.1f}s after the change")
    show_calls("API calls for them", calls(plane, user, began, last + 1))
    operator.stop()
    runner.stop()


def takeover(kubeconfig: Path, api: client.ApiClient, logs: Path) -> None:
    namespace = "bench-ha"
    client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata={"name": namespace}))
    election = ["--leader-elect", f"--leader-election-namespace={namespace}",
                "--lease-duration=4", "--renew-deadline=3", "--retry-period=0.5"]  # fmt: skip
    pair = [
        OperatorProcess(kubeconfig, [namespace], logs / f"ha-{n}", election).start() for n in "ab"
    ]

    def leads(operator: OperatorProcess) -> bool:
        with contextlib.suppress(OSError):
            return "reactivejob_operator_leader 1.0" in operator.metrics()
        return False

    while not any(leads(op) for op in pair):
        time.sleep(0.1)
    leader = next(op for op in pair if leads(op))
    other = next(op for op in pair if op is not leader)
    leader.kill()
    killed = time.monotonic()
    while not leads(other):
        time.sleep(0.05)
    say(f"\n== takeover: the follower leads {time.monotonic() - killed:.1f}s after SIGKILL "
        "of the leader (lease duration 4 s, retry period 0.5 s)")  # fmt: skip
    other.stop()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=1000, help="ReactiveJobs per phase")
    parser.add_argument("--rest-seconds", type=float, default=60, help="the at-rest window")
    parser.add_argument("--memory", action="store_true", help="also RSS at 10,000 and at 100 KB")
    parser.add_argument("--compare", metavar="CMD", help="another operator to run the same way")
    parser.add_argument("--workers", type=int, help="our operator's --workers")
    args = parser.parse_args()
    started = time.monotonic()
    with ControlPlane(audit_policy=AUDIT_POLICY) as plane, tempfile.TemporaryDirectory() as folder:
        logs = Path(folder)
        say(f"control plane start-up: {plane.startup_seconds:.2f}s")
        api = api_client(plane.kubeconfig, pool=4 * THREADS)
        install_reactivejob_crd(api)
        for namespace in ("floor", "bench-system"):
            client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata={"name": namespace}))
        admin = Connection.from_kubeconfig(plane.kubeconfig)
        floor = Floor(admin, args.count)
        with contextlib.ExitStack() as stack:
            kubeconfig, user = stack.enter_context(service_account(plane, api, *OPERATOR_SA))
            extra = [f"--workers={args.workers}"] if args.workers else []

            def ours(namespace: str) -> int:
                operator = OperatorProcess(
                    kubeconfig, [namespace], logs / "ours", [*extra, "--log-level=INFO"]
                )
                stack.callback(operator.stop)
                operator.start(timeout=60)
                assert operator.process is not None
                return operator.process.pid

            bench = Bench(plane, admin, api, args.count, floor, args.rest_seconds)
            run_operator_phases(bench, "ours", user, ours)
            if args.compare:
                other_config, other_user = stack.enter_context(
                    service_account(plane, api, *COMPARE_SA)
                )

                def theirs(namespace: str) -> int:
                    argv = shlex.split(
                        args.compare.format(kubeconfig=other_config, namespace=namespace)
                    )
                    process = ManagedProcess("compared", argv, logs / "compared.log")
                    stack.callback(process.stop)
                    time.sleep(3)  # no common readiness signal across operators
                    return process.pid

                run_operator_phases(bench, "compared", other_user, theirs)
            config_fan_out(bench, kubeconfig, user, logs)
            if args.memory:
                memory(plane, admin, api, kubeconfig, logs)
            takeover(kubeconfig, api, logs)
    say(f"\ntotal wall time: {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

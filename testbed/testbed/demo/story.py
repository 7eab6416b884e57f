"""``make demo`` / ``reactivejob-demo``: the whole story on an embedded control plane.

Start kube-apiserver + etcd (+ garbage collector and TTL controllers), install the CRD, run the
operator, then walk one ReactiveJob through create, succeed, change, fail, fix, a manual re-run,
a change under concurrencyPolicy Replace while a Job runs, and delete.
No kubelet runs here: a stand-in marks each Job Complete or Failed as its template's
``testing.batch.cs.sap.com/outcome`` annotation asks. Ctrl-C stops everything and cleans up.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

import reactivejob_cli
from reactivejob_api import Connection, ReactiveJob, ReactiveJobClient
from reactivejob_api.client import JobClient
from reactivejob_api.vocabulary import ANNOTATION_RERUN, LABEL_CONTROLLER_UID
from testbed.cli import exit_on_sigterm
from testbed.clients import api_client
from testbed.cluster import ControlPlane
from testbed.errors import ControlPlaneError
from testbed.harness import (
    DELAY_ANNOTATION,
    OUTCOME_ANNOTATION,
    JobRunner,
    OperatorProcess,
    install_reactivejob_crd,
)

# Package data, so the demo runs the same from a wheel, the image-less install or a checkout.
EXAMPLE = files("testbed.demo") / "reactivejob.yaml"
NAMESPACE = "default"


def say(text: str) -> None:
    print(text, flush=True)


class Story:
    def __init__(
        self, jobs: ReactiveJobClient, batch: JobClient, timeout: float, kubeconfig: Path
    ) -> None:
        self.jobs = jobs
        self.batch = batch
        self.timeout = timeout
        self.kubeconfig = kubeconfig

    def wait_for(self, name: str, state: str) -> ReactiveJob:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            obj = self.jobs.get(name, NAMESPACE)
            status, meta = obj.status, obj.metadata
            if (
                status
                and meta
                and status.state == state
                and status.observed_generation == meta.generation
            ):
                return obj
            time.sleep(0.2)
        raise TimeoutError(f"{name} did not reach {state} within {self.timeout:.0f}s")

    def show(self, obj: ReactiveJob) -> None:
        assert obj.metadata is not None and obj.status is not None
        ready = next((c for c in obj.status.conditions or [] if c.type == "Ready"), None)
        say(
            f"    ReactiveJob {obj.metadata.name}: generation {obj.metadata.generation}, "
            f"state {obj.status.state}, Ready={ready.status if ready else '?'}"
            f" ({ready.reason if ready else ''}: {ready.message if ready else ''})"
        )
        listed = self.batch.list(
            NAMESPACE, label_selector=f"{LABEL_CONTROLLER_UID}={obj.metadata.uid}"
        )
        for job in listed.items:
            assert job.metadata is not None
            done = [
                c.type
                for c in (job.status.conditions if job.status else None) or []
                if c.status == "True"
            ]
            say(f"      Job {job.metadata.name}: {', '.join(done) or 'running'}")

    def wait_until(
        self, name: str, reached: Callable[[ReactiveJob], bool], what: str
    ) -> ReactiveJob:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            obj = self.jobs.get(name, NAMESPACE)
            if reached(obj):
                return obj
            time.sleep(0.2)
        raise TimeoutError(f"{name}: {what} not reached within {self.timeout:.0f}s")

    def history(self, name: str) -> None:
        """What a person types to see what ran: the kubectl plugin, in this process."""
        say(f"\n==> kubectl reactivejob history {name}")
        sys.stdout.flush()
        code = reactivejob_cli.main(
            ["--kubeconfig", str(self.kubeconfig), "-n", NAMESPACE, "history", name]
        )
        if code != 0:
            raise RuntimeError(f"kubectl reactivejob history exited {code}")

    def change(self, name: str, patch: dict[str, Any], what: str) -> None:
        say(f"\n==> {what}")
        self.jobs.patch(name, NAMESPACE, patch)


def _handled(obj: ReactiveJob, token: str) -> bool:
    status = obj.status
    return bool(status and status.last_handled_rerun == token and status.state == "Ready")


def _running(obj: ReactiveJob) -> bool:
    """The newest Job has started (its run is recorded as Running)."""
    history = (obj.status.history if obj.status else None) or []
    meta = obj.metadata
    return bool(
        history
        and meta
        and history[0].generation == meta.generation
        and history[0].result == "Running"
    )


def template_annotations(**values: str) -> dict[str, Any]:
    return {"spec": {"jobTemplate": {"metadata": {"annotations": values}}}}


def tell(story: Story, manifest: dict[str, Any]) -> None:
    name = manifest["metadata"]["name"]
    step = story.wait_for
    say(f"\n==> kubectl apply -f {EXAMPLE.name}   (the stand-in kubelet will report: Complete)")
    story.jobs.apply(
        {**manifest, "metadata": {**manifest["metadata"], "namespace": NAMESPACE}},
        field_manager="reactivejob-demo",
    )
    story.show(step(name, "Processing"))
    story.show(step(name, "Ready"))

    container = {"name": "migrate", "image": "registry.example.com/migrate:1.1.0"}
    pod = {"template": {"spec": {"containers": [{**container, "args": ["--to", "latest"]}]}}}
    story.change(
        name,
        {"spec": {"jobTemplate": {"spec": pod}}},
        "change the template (image 1.0.0 -> 1.1.0): a new Job runs",
    )
    story.show(step(name, "Ready"))

    story.change(
        name,
        template_annotations(**{OUTCOME_ANNOTATION: "Failed"}),
        "change again, and let the stand-in kubelet report: Failed",
    )
    story.show(step(name, "Error"))

    story.change(
        name,
        template_annotations(**{OUTCOME_ANNOTATION: "Complete"}),
        "fix it: a new Job runs and succeeds",
    )
    story.show(step(name, "Ready"))

    token = "demo-1"
    say(f"\n==> kubectl annotate reactivejob {name} {ANNOTATION_RERUN}={token}   (a manual re-run)")
    story.jobs.patch(name, NAMESPACE, {"metadata": {"annotations": {ANNOTATION_RERUN: token}}})
    story.show(story.wait_until(name, lambda o: _handled(o, token), f"rerun {token} done"))

    story.change(
        name,
        {
            "spec": {
                "concurrencyPolicy": "Replace",
                "jobTemplate": {"metadata": {"annotations": {DELAY_ANNOTATION: "600"}}},
            }
        },
        "concurrencyPolicy: Replace, and a template whose Job runs for 10 minutes",
    )
    story.show(story.wait_until(name, _running, "the long Job running"))
    story.change(
        name,
        template_annotations(**{DELAY_ANNOTATION: "0"}),
        "change it while that Job runs: Replace deletes it, then starts the new one",
    )
    story.show(step(name, "Ready"))
    story.history(name)

    say("\n==> kubectl delete reactivejob " + name + "   (its Jobs go first, foreground)")
    uid = story.jobs.get(name, NAMESPACE).metadata.uid  # type: ignore[union-attr]
    story.jobs.delete(name, NAMESPACE)
    deadline = time.monotonic() + story.timeout
    while time.monotonic() < deadline:
        left = story.batch.list(NAMESPACE, label_selector=f"{LABEL_CONTROLLER_UID}={uid}").items
        try:
            story.jobs.get(name, NAMESPACE)
        except Exception:
            if not left:
                say("    ReactiveJob and all its Jobs are gone.")
                return
        time.sleep(0.2)
    raise TimeoutError("deletion did not finish")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reactivejob-demo", description=__doc__)
    parser.add_argument("--no-wait", action="store_true", help="stop after the story, no Ctrl-C")
    parser.add_argument("--timeout", type=float, default=60, help="seconds per step")
    args = parser.parse_args(argv)
    exit_on_sigterm()
    say("==> starting a local control plane (kube-apiserver, etcd, GC and TTL controllers)")
    try:
        with (
            ControlPlane() as plane,
            tempfile.TemporaryDirectory(prefix="reactivejob-demo-") as logs,
        ):
            say(f"    ready in {plane.startup_seconds:.1f}s; export KUBECONFIG={plane.kubeconfig}")
            run_story(plane, Path(logs), args.timeout, wait=not args.no_wait)
    except ControlPlaneError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        say("\nstopped; everything the demo started is gone.")
    return 0


def run_story(plane: ControlPlane, logs: Path, timeout: float, *, wait: bool) -> None:
    with api_client(plane.kubeconfig) as api:
        install_reactivejob_crd(api)
        say("==> installed the ReactiveJob CRD (server-side apply: it is over 256 KiB)")
        runner = JobRunner(api).start()
        say(
            "==> no kubelet here: a stand-in marks Jobs Complete/Failed as their template's\n"
            f"    {OUTCOME_ANNOTATION} annotation asks"
        )
        operator = OperatorProcess(plane.kubeconfig, [], logs / "operator").start()
        say(f"==> operator running (python -m reactivejob run --all-namespaces); log: {logs}")
        connection = Connection.from_kubeconfig(plane.kubeconfig)
        try:
            with ReactiveJobClient(connection) as jobs, JobClient(connection) as batch:
                story = Story(jobs, batch, timeout, plane.kubeconfig)
                tell(story, yaml.safe_load(EXAMPLE.read_text()))
            if wait:
                say(f"\nTry it: export KUBECONFIG={plane.kubeconfig}")
                say(f"        kubectl apply --server-side -f {EXAMPLE}")
                say("Ctrl-C stops the control plane and removes every file it made.")
                threading.Event().wait()
        finally:
            operator.stop()
            runner.stop()


if __name__ == "__main__":
    sys.exit(main())

"""Waiting for runs with the typed client, and with kubectl, on the real API server with the
operator running."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import pytest

from reactivejob_api import (
    AsyncReactiveJobClient,
    Connection,
    ReactiveJob,
    ReactiveJobClient,
    RunFailed,
    RunTimeout,
)
from reactivejob_api.vocabulary import ANNOTATION_RERUN
from testbed import ControlPlane, binaries
from testbed.harness import COMPLETE, DELAY_ANNOTATION, FAILED, OUTCOME_ANNOTATION
from tests.integration.kube_helpers import Cluster
from tests.samples import reactive_job, simple_template


def job_template(outcome: str = COMPLETE, delay: float = 1) -> dict[str, object]:
    return simple_template(**{OUTCOME_ANNOTATION: outcome, DELAY_ANNOTATION: str(delay)})


@pytest.fixture
def connection(control_plane: ControlPlane) -> Connection:
    return Connection.from_kubeconfig(control_plane.kubeconfig)


@pytest.mark.usefixtures("operator")
def test_wait_returns_when_the_run_succeeds(cluster: Cluster, connection: Connection) -> None:
    cluster.create(reactive_job("ok", job_template()))
    with ReactiveJobClient(connection) as client:
        seen: list[str] = []
        done = client.wait(
            "ok", cluster.namespace, timeout=60,
            on_change=lambda o: seen.append(o.status.state or "-" if o.status else "-"),
        )  # fmt: skip
    assert done.status is not None  # the model, as get() returns it
    assert done.status.state == "Ready"
    assert done.status.history is not None and done.status.history[0].result == "Succeeded"
    assert "Processing" in seen, seen  # it watched the run go by; it did not just read the end


@pytest.mark.usefixtures("operator")
def test_wait_raises_run_failed_with_the_jobs_reason(
    cluster: Cluster, connection: Connection
) -> None:
    cluster.create(reactive_job("broken", job_template(FAILED)))
    with ReactiveJobClient(connection) as client, pytest.raises(RunFailed) as failed:
        client.wait("broken", cluster.namespace, timeout=60)
    assert failed.value.reason == "BackoffLimitExceeded"
    assert failed.value.message == "Job has reached the backoff limit"
    assert failed.value.job_name is not None and failed.value.job_name.startswith("broken-")


@pytest.mark.usefixtures("operator")
def test_wait_times_out_while_a_change_is_held(cluster: Cluster, connection: Connection) -> None:
    body = reactive_job("held", job_template())
    body["spec"]["suspend"] = True
    cluster.create(body)
    began = time.monotonic()
    with ReactiveJobClient(connection) as client, pytest.raises(RunTimeout) as late:
        client.wait("held", cluster.namespace, timeout=3)
    assert 3 <= time.monotonic() - began < 10
    assert "did not finish within 3s" in str(late.value)


@pytest.mark.usefixtures("operator")
def test_async_wait_for_a_rerun_token(cluster: Cluster, connection: Connection) -> None:
    cluster.create(reactive_job("again", job_template(delay=0)))
    cluster.wait_state("again", "Ready")

    async def rerun_and_wait() -> ReactiveJob:
        async with AsyncReactiveJobClient(connection) as client:
            patch = {"metadata": {"annotations": {ANNOTATION_RERUN: "t-1"}}}
            await client.patch("again", cluster.namespace, patch)
            return await client.wait("again", cluster.namespace, for_run="t-1", timeout=60)

    status = asyncio.run(rerun_and_wait()).status
    assert status is not None and status.last_handled_rerun == "t-1"
    assert status.history is not None and status.history[0].rerun == "t-1"


@pytest.mark.usefixtures("operator")
def test_apply_and_wait(cluster: Cluster, connection: Connection) -> None:
    manifest = reactive_job("applied", job_template(), cluster.namespace)
    with ReactiveJobClient(connection) as client:
        done = client.apply_and_wait(manifest, field_manager="ci", timeout=60)
    assert done.status is not None and done.status.state == "Ready"
    assert done.metadata is not None and done.metadata.managed_fields is not None
    assert "ci" in {f.manager for f in done.metadata.managed_fields}


@pytest.mark.usefixtures("operator")
def test_kubectl_knows_rj_and_waits_for_ready(
    cluster: Cluster, control_plane: ControlPlane, tmp_path: Path
) -> None:
    kubectl = str(binaries.kubectl())  # the control plane's own release, built like it
    cluster.create(reactive_job("seen", job_template(delay=2)))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        where = ["--kubeconfig", str(control_plane.kubeconfig), "-n", cluster.namespace]
        return subprocess.run(
            [kubectl, *where, *args], capture_output=True, text=True, timeout=90, check=False
        )

    waited = run("wait", "--for=condition=Ready", "rj/seen", "--timeout=60s")
    assert waited.returncode == 0, waited.stderr
    assert "condition met" in waited.stdout
    table = run("get", "rj")
    assert table.returncode == 0, table.stderr
    header = table.stdout.splitlines()[0].split()
    assert header == ["NAME", "STATE", "JOB", "READY", "AGE"]
    row = table.stdout.splitlines()[1].split()
    assert row[:2] == ["seen", "Ready"] and row[2].startswith("seen-") and row[3] == "True"
    wide = run("get", "reactivejobs", "-o", "wide").stdout.splitlines()[0].split()
    assert wide[-2:] == ["GENERATION", "OBSERVED"]
    category = run("get", "reactivejobs.batch.cs.sap.com,jobs", "-o", "name").stdout
    assert "reactivejob.batch.cs.sap.com/seen" in category
    everything = run("get", "all", "-o", "name").stdout
    assert "reactivejob" not in everything  # not in "all", on purpose

"""``kubectl reactivejob``: the console script found by the real kubectl as a plugin, against
the real API server with the operator running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from testbed import ControlPlane, binaries
from testbed.harness import COMPLETE, DELAY_ANNOTATION, FAILED, OUTCOME_ANNOTATION
from tests.integration.kube_helpers import Cluster
from tests.samples import reactive_job, simple_template

pytestmark = pytest.mark.usefixtures("operator")
SCRIPTS = Path(sys.executable).parent  # where pip put kubectl-reactivejob


def run(
    control_plane: ControlPlane, cluster: Cluster, *args: str, module: bool = False
) -> subprocess.CompletedProcess[str]:
    """As a user types it: ``kubectl reactivejob ...`` (piped, so no spinner)."""
    kubectl = str(binaries.kubectl())  # the control plane's own release, built like it
    where = ["--kubeconfig", str(control_plane.kubeconfig), "-n", cluster.namespace]
    if module:
        command = [sys.executable, "-m", "reactivejob_api", *where, *args]
    else:
        command = [kubectl, "reactivejob", *where, *args]
    env = {**os.environ, "PATH": f"{SCRIPTS}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, env=env, check=False
    )


def template(outcome: str = COMPLETE, delay: float = 1) -> dict[str, object]:
    return simple_template(**{OUTCOME_ANNOTATION: outcome, DELAY_ANNOTATION: str(delay)})


def test_wait_exits_0_on_success_1_on_failure_2_on_timeout(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    cluster.create(reactive_job("good", template()))
    cluster.create(reactive_job("bad", template(FAILED)))
    held = reactive_job("held", template())
    held["spec"]["suspend"] = True
    cluster.create(held)
    good = run(control_plane, cluster, "wait", "good", "--timeout", "60")
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith("reactivejob.batch.cs.sap.com/good succeeded: job good-")
    assert good.stderr == ""  # piped: no spinner
    bad = run(control_plane, cluster, "wait", "bad", "--timeout", "60")
    assert bad.returncode == 1, bad.stderr
    assert "failed: job bad-" in bad.stdout and "BackoffLimitExceeded" in bad.stdout
    late = run(control_plane, cluster, "wait", "held", "--timeout", "2")
    assert late.returncode == 2
    assert "did not finish within 2s" in late.stderr
    as_json = run(control_plane, cluster, "wait", "good", "-o", "json")
    assert json.loads(as_json.stdout)["status"]["state"] == "Ready"


def test_logs_says_when_there_is_no_run_or_no_pod_to_read(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    """No Pod runs on this tier (the real node reads real logs): what `logs` says without one."""
    held = reactive_job("held", template())
    held["spec"]["suspend"] = True
    cluster.create(held)
    cluster.wait_state("held", "Suspended")
    none = run(control_plane, cluster, "logs", "held")
    assert (none.returncode, none.stdout) == (3, "")
    assert "reactivejob held has no run yet" in none.stderr
    cluster.create(reactive_job("done", template()))
    job = cluster.wait_state("done", "Ready")["status"]["currentJobName"]
    podless = run(control_plane, cluster, "logs", "done")
    assert podless.returncode == 3 and f"job {job} has no pods" in podless.stderr
    other = run(control_plane, cluster, "logs", "done", "--run", "someone-elses")
    assert other.returncode == 3 and "has no run with job someone-elses" in other.stderr
    missing = run(control_plane, cluster, "logs", "nothing")
    assert missing.returncode == 3 and "NotFound" in missing.stderr


def test_rerun_waits_and_history_and_status_show_it(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    uid = cluster.create(reactive_job("again", template(delay=0)))["metadata"]["uid"]
    cluster.wait_state("again", "Ready")
    rerun = run(control_plane, cluster, "rerun", "again", "--token", "cli-1", "--wait")
    assert rerun.returncode == 0, rerun.stderr
    assert len(cluster.jobs(uid)) == 2
    table = run(control_plane, cluster, "history", "again").stdout.splitlines()
    assert table[0].split() == ["JOB", "GENERATION", "CAUSE", "RESULT", "STARTED", "FINISHED"]
    assert table[1].split()[1:5] == ["1", "Rerun", "(cli-1)", "Succeeded"]
    assert table[2].split()[1:4] == ["1", "Created", "Succeeded"]
    runs = yaml.safe_load(run(control_plane, cluster, "history", "again", "-o", "yaml").stdout)
    assert [r["cause"] for r in runs] == ["Rerun", "Created"]
    status = run(control_plane, cluster, "status", "again", module=True)
    assert status.returncode == 0, status.stderr
    assert "State:      Ready" in status.stdout and "Last rerun: cli-1" in status.stdout


def test_errors_go_to_stderr_with_their_own_exit_codes(
    cluster: Cluster, control_plane: ControlPlane
) -> None:
    missing = run(control_plane, cluster, "status", "nobody")
    assert missing.returncode == 3
    assert missing.stdout == "" and "NotFound" in missing.stderr
    usage = run(control_plane, cluster, "wait")
    assert usage.returncode == 64
    assert "Missing argument 'NAME'" in usage.stderr

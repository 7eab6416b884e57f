"""The control plane is real: served CRDs, TTL cleanup, foreground deletion, RBAC, no orphans."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from testbed import ControlPlane, ControlPlaneError, api_client
from testbed.cluster import runs_root
from testbed.harness.kubelet import COMPLETE, OUTCOME_ANNOTATION, JobRunner
from tests.integration.kube_helpers import as_json, eventually


def gone(read: Callable[[], object]) -> bool:
    try:
        read()
    except ApiException as error:
        if error.status == 404:
            return True
        raise
    return False


def test_crd_is_served_and_custom_object_round_trips(
    kube: client.ApiClient, crds: list[str], namespace: str
) -> None:
    assert "reactivejobs.batch.cs.sap.com" in crds
    objects = client.CustomObjectsApi(kube)
    body = {
        "apiVersion": "batch.cs.sap.com/v1alpha1",
        "kind": "ReactiveJob",
        "metadata": {"name": "round-trip"},
        "spec": {
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "main", "image": "busybox", "args": ["true"]}],
                        }
                    }
                }
            }
        },
    }
    objects.create_namespaced_custom_object(
        "batch.cs.sap.com", "v1alpha1", namespace, "reactivejobs", body
    )
    stored = as_json(
        objects.get_namespaced_custom_object(
            "batch.cs.sap.com", "v1alpha1", namespace, "reactivejobs", "round-trip"
        )
    )
    assert stored["spec"] == body["spec"]
    assert stored["status"] == {"observedGeneration": -1}  # the schema's status default


def test_ttl_controller_deletes_a_finished_job(
    kube: client.ApiClient, namespace: str, job_runner: JobRunner
) -> None:
    batch = client.BatchV1Api(kube)
    job = client.V1Job(
        metadata=client.V1ObjectMeta(
            name="short-lived", annotations={OUTCOME_ANNOTATION: COMPLETE}
        ),
        spec=client.V1JobSpec(
            ttl_seconds_after_finished=15,  # time to see Complete before it goes, even under load
            template=client.V1PodTemplateSpec(
                spec=client.V1PodSpec(
                    restart_policy="Never",
                    containers=[client.V1Container(name="main", image="busybox")],
                )
            ),
        ),
    )
    batch.create_namespaced_job(namespace, job)

    def completed() -> bool:
        status = batch.read_namespaced_job_status("short-lived", namespace).status
        conditions = (status.conditions if status else None) or []
        return any(c.type == COMPLETE and c.status == "True" for c in conditions)

    eventually(completed, what="the test runner completing the Job")
    eventually(
        lambda: gone(lambda: batch.read_namespaced_job("short-lived", namespace)),
        timeout=60,
        what="TTL-after-finished deleting the Job",
    )


def test_the_stand_in_kubelet_runs_no_suspended_job(
    kube: client.ApiClient, namespace: str, job_runner: JobRunner
) -> None:
    batch = client.BatchV1Api(kube)

    def job(name: str, *, suspend: bool) -> Any:
        return {
            "metadata": {"name": name, "annotations": {OUTCOME_ANNOTATION: COMPLETE}},
            "spec": {
                "suspend": suspend,
                "template": {
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}
                },
            },
        }

    def status(name: str) -> client.V1JobStatus:
        found = batch.read_namespaced_job_status(name, namespace).status
        assert found is not None
        return found

    def finished(name: str) -> bool:
        return any(c.type == COMPLETE and c.status == "True" for c in status(name).conditions or [])

    batch.create_namespaced_job(namespace, job("held", suspend=True))
    # A neighbour created after it: once it is finished, the runner has seen both.
    batch.create_namespaced_job(namespace, job("free", suspend=False))
    eventually(lambda: finished("free"), what="the unsuspended neighbour finishing")
    held = status("held")
    assert not held.conditions and not held.start_time  # untouched while suspended
    batch.patch_namespaced_job("held", namespace, {"spec": {"suspend": False}})
    eventually(lambda: finished("held"), what="the resumed Job finishing")


def test_foreground_deletion_completes_through_the_garbage_collector(
    kube: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(kube)
    owner = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner"))
    )
    assert owner.metadata is not None
    reference = client.V1OwnerReference(
        api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid,
        block_owner_deletion=True,
    )  # fmt: skip
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="child", owner_references=[reference])
        ),
    )
    core.delete_namespaced_config_map(
        "owner", namespace, body=client.V1DeleteOptions(propagation_policy="Foreground")
    )
    # Foreground: the owner waits (finalizer foregroundDeletion) until the GC removed the child.
    terminating = core.read_namespaced_config_map("owner", namespace)
    assert terminating.metadata is not None
    assert "foregroundDeletion" in (terminating.metadata.finalizers or [])
    eventually(
        lambda: gone(lambda: core.read_namespaced_config_map("child", namespace)),
        what="GC deleting the dependent",
    )
    eventually(
        lambda: gone(lambda: core.read_namespaced_config_map("owner", namespace)),
        what="GC releasing the owner",
    )


def test_service_account_token_without_rbac_gets_403(
    kube: client.ApiClient, control_plane: ControlPlane, namespace: str
) -> None:
    core = client.CoreV1Api(kube)
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="nobody"))
    )
    granted = core.create_namespaced_service_account_token(
        "nobody", namespace, client.AuthenticationV1TokenRequest(spec={"expirationSeconds": 600})
    )
    assert granted.status is not None
    token = granted.status.token
    assert token is not None
    with api_client(control_plane.kubeconfig_for_token(token, "nobody")) as api:
        with pytest.raises(ApiException) as denied:
            client.CoreV1Api(api).list_namespaced_config_map(namespace)
        assert denied.value.status == 403
        assert f"system:serviceaccount:{namespace}:nobody" in str(denied.value.body)


def test_a_sigkilled_run_leaves_nothing_behind(control_plane: ControlPlane, tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    script = textwrap.dedent(
        f"""
        import os, pathlib, time
        from testbed import ControlPlane
        plane = ControlPlane().start()
        pids = [str(p.pid) for p in plane.processes]
        pathlib.Path({str(ready)!r}).write_text(str(plane.workdir) + "\\n" + " ".join(pids))
        time.sleep(600)
        """
    )
    victim = subprocess.Popen([sys.executable, "-c", script])
    eventually(ready.exists, timeout=60, what="the victim's control plane starting")
    workdir, pids = ready.read_text().splitlines()
    children = [int(pid) for pid in pids.split()]
    assert len(children) == 3
    victim.send_signal(signal.SIGKILL)
    victim.wait()

    def all_dead() -> bool:
        return not any(Path(f"/proc/{pid}").exists() and _not_zombie(pid) for pid in children)

    eventually(all_dead, timeout=15, what="etcd, kube-apiserver and controller-manager dying")
    assert Path(workdir).exists()  # SIGKILL gave it no chance to clean up
    with ControlPlane(controllers=()) as after:  # the next run starts and sweeps the stale folder
        assert after.workdir is not None and after.workdir.parent == runs_root()
    assert not Path(workdir).exists()


def _not_zombie(pid: int) -> bool:
    try:
        return " Z " not in Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False


def test_a_taken_port_is_named_with_the_fix(control_plane: ControlPlane) -> None:
    with pytest.raises(ControlPlaneError) as error:
        ControlPlane(api_port=control_plane.api_port).start()
    assert f"port {control_plane.api_port}" in str(error.value)
    assert "already in use" in str(error.value)
    assert "fix:" in str(error.value)


def test_ctrl_c_stops_everything_and_removes_its_files(control_plane: ControlPlane) -> None:
    """``reactivejob-controlplane run`` until Ctrl-C (SIGINT), as a person uses it."""
    runner = subprocess.Popen(
        [sys.executable, "-m", "testbed.cli", "run"],
        stdout=subprocess.PIPE,
        text=True,
        # A suite started in the background (`make test &`, nohup) passes SIGINT on ignored,
        # and Python then never turns it into KeyboardInterrupt; a terminal's Ctrl-C is not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509
    )
    assert runner.stdout is not None
    # A hung start must fail the test, not block it: lines arrive through a queue, with a
    # deadline (select() would miss lines already in the text wrapper's buffer).
    lines: queue.Queue[str] = queue.Queue()
    stdout = runner.stdout

    def pump() -> None:
        for line in stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    kubeconfig = ""
    deadline = time.monotonic() + 60
    try:
        while not kubeconfig:
            try:
                line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                raise AssertionError("no KUBECONFIG line within 60s") from None
            if line.startswith("export KUBECONFIG="):
                kubeconfig = line.strip().split("=", 1)[1]
    except BaseException:
        runner.kill()
        runner.wait()
        raise
    workdir = Path(kubeconfig).parent
    assert workdir.is_dir()
    children = _children_of(runner.pid)
    assert len(children) == 3
    runner.send_signal(signal.SIGINT)
    assert runner.wait(timeout=30) == 130
    assert not workdir.exists()
    assert not any(Path(f"/proc/{pid}").exists() and _not_zombie(pid) for pid in children)


def _children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found

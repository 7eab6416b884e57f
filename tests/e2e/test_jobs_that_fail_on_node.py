"""Why a run failed, as users read it, from real Pods on the real node: the failing container,
its exit code, the kubelet's reason and the termination message, in the Ready/Stalled message,
the history, the JobFailed Event, `kubectl reactivejob wait` and the typed client's RunFailed.
`kubectl reactivejob logs` reads the run's Pods' logs through the API server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from kubernetes import client

from reactivejob_api import Connection, ReactiveJobClient, RunFailed
from testbed.node.node import RealCluster
from tests.e2e.conftest import OPERATOR_NAMESPACE
from tests.e2e.templates import busybox
from tests.integration.kube_helpers import Cluster, conditions
from tests.integration.test_cli import run as kubectl_reactivejob
from tests.samples import reactive_job

pytestmark = [pytest.mark.usefixtures("operator"), pytest.mark.timeout(600)]

NO_SUCH_IMAGE = "registry.invalid/no-such-image:1"


@dataclass(frozen=True)
class Failing:
    template: dict[str, Any]
    job_reason: str  # the job controller's
    reasons: frozenset[str]  # the kubelet's, for the failed container
    exit_code: int | None
    said: str  # in the failure's message
    spec: dict[str, Any] = field(default_factory=dict)


def _oom() -> dict[str, Any]:
    # dd fills a 64 MiB block buffer from /dev/zero: past a 16 MiB limit, the kernel kills it.
    template = busybox("dd if=/dev/zero of=/dev/null bs=64M count=1")
    container = template["spec"]["template"]["spec"]["containers"][0]
    container["resources"] = {"limits": {"memory": "16Mi"}}
    return template


def _no_image() -> dict[str, Any]:
    template = busybox("true", activeDeadlineSeconds=20)
    container = template["spec"]["template"]["spec"]["containers"][0]
    container |= {"image": NO_SUCH_IMAGE, "imagePullPolicy": "IfNotPresent"}
    return template


FAIL_ON_42 = {"containerName": "run", "operator": "In", "values": [42]}
EXIT_42 = {"rules": [{"action": "FailJob", "onExitCodes": FAIL_ON_42}]}

CASES = {
    "termination-log": Failing(
        busybox('echo "schema v7 is missing" > /dev/termination-log; exit 3'),
        "BackoffLimitExceeded", frozenset({"Error"}), 3, "schema v7 is missing",
    ),
    "failure-log": Failing(
        busybox('for i in $(seq 1 200); do echo "line $i"; done; exit 1'),
        "BackoffLimitExceeded", frozenset({"Error"}), 1, "line 199\\nline 200",
        spec={"failureLog": True},
    ),
    "oom": Failing(_oom(), "BackoffLimitExceeded", frozenset({"OOMKilled"}), 137, ""),
    "deadline": Failing(
        busybox("sleep 300", activeDeadlineSeconds=3),
        "DeadlineExceeded", frozenset({"Error", ""}), None, "",
    ),
    # The deadline deletes the Pod, and the kubelet then shows its never-started container
    # back at ContainerCreating: the pull error is gone by the time the run has failed.
    "no-image": Failing(
        _no_image(), "DeadlineExceeded",
        frozenset({"ErrImagePull", "ImagePullBackOff", "ContainerCreating"}), None, "",
    ),
    "exit-42": Failing(
        busybox("echo bad row 7 >&2; exit 42", backoffLimit=6, podFailurePolicy=EXIT_42),
        "PodFailurePolicy", frozenset({"Error"}), 42, "",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_a_failed_run_says_which_container_failed_and_why(
    node: RealCluster, cluster: Cluster, case: str
) -> None:
    failing = CASES[case]
    body = reactive_job(case, failing.template)
    body["spec"] |= failing.spec
    cluster.create(body)
    failed = cluster.wait_state(case, "Error", timeout=120)
    job = failed["status"]["currentJobName"]

    run = failed["status"]["history"][0]
    assert (run["jobName"], run["result"], run["reason"]) == (job, "Failed", failing.job_reason)
    said = run["failure"]
    assert said["pod"].startswith(f"{job}-") and said["container"] == "run", said
    assert said.get("reason", "") in failing.reasons, said
    if failing.exit_code is not None:
        assert said["exitCode"] == failing.exit_code, said
    assert failing.said in said.get("message", ""), said
    if said.get("reason") in ("ErrImagePull", "ImagePullBackOff"):
        assert NO_SUCH_IMAGE in said["message"], said
    if case == "exit-42":  # the rule that decided, in the job controller's words
        assert "exit code 42 matching FailJob rule at index 0" in run["message"], run

    stalled = conditions(failed)["Stalled"]
    assert stalled["reason"] == failing.job_reason
    assert stalled["message"].startswith(run["message"] + ": container run of pod "), stalled
    assert failing.said in stalled["message"]
    (event,) = cluster.wait_events(case, "JobFailed")
    assert event["message"] == f"Job {job}: {failing.job_reason}: {stalled['message']}"[:1024]

    waited = kubectl_reactivejob(node.control_plane, cluster, "wait", case, "--timeout", "10")
    assert waited.returncode == 1, waited
    assert f"failed: job {job}: {failing.job_reason}: {stalled['message']}" in waited.stdout

    connection = Connection.from_kubeconfig(str(node.control_plane.kubeconfig))
    with ReactiveJobClient(connection) as typed, pytest.raises(RunFailed) as raised:
        typed.wait(case, cluster.namespace, timeout=10)
    assert raised.value.failure is not None and raised.value.container == "run"
    assert raised.value.exit_code == failing.exit_code or failing.exit_code is None
    assert raised.value.failure.reason == said.get("reason")
    assert raised.value.failure.message == said.get("message")


def test_logs_reads_the_current_runs_pods_and_a_named_run(
    node: RealCluster, cluster: Cluster
) -> None:
    cluster.create(reactive_job("chatty", busybox("echo first; echo second")))
    done = cluster.wait_state("chatty", "Ready", timeout=90)
    first = done["status"]["currentJobName"]
    read = kubectl_reactivejob(node.control_plane, cluster, "logs", "chatty")
    assert (read.returncode, read.stdout) == (0, "first\nsecond\n"), read
    cluster.patch("chatty", {"spec": {"jobTemplate": busybox("echo third")}})
    again = cluster.wait_state("chatty", "Ready", timeout=90)
    assert again["status"]["currentJobName"] != first
    assert kubectl_reactivejob(node.control_plane, cluster, "logs", "chatty").stdout == "third\n"
    named = kubectl_reactivejob(node.control_plane, cluster, "logs", "chatty", "--run", first)
    assert named.stdout == "first\nsecond\n", named
    followed = kubectl_reactivejob(node.control_plane, cluster, "logs", "chatty", "-f")
    assert (followed.returncode, followed.stdout) == (0, "third\n"), followed
    unknown = kubectl_reactivejob(node.control_plane, cluster, "logs", "chatty", "--run", "x")
    assert unknown.returncode == 3 and "has no run with job x" in unknown.stderr


def test_a_secret_the_container_prints_stays_out_of_the_operators_logs(
    kube: client.ApiClient, cluster: Cluster
) -> None:
    """The value reaches the termination message, where Kubernetes itself shows it, and so the
    status that quotes it; never a line the operator logs."""
    value = "hunter2-5f1c9e"
    client.CoreV1Api(kube).create_namespaced_secret(
        cluster.namespace,
        client.V1Secret(metadata=client.V1ObjectMeta(name="db"), string_data={"password": value}),
    )
    template = busybox('echo "login failed for $PASSWORD" | tee /dev/termination-log; exit 1')
    container = template["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [{"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db",
                         "key": "password"}}}]  # fmt: skip
    cluster.create(reactive_job("leaky", template))
    failed = cluster.wait_state("leaky", "Error", timeout=90)
    assert value in failed["status"]["history"][0]["failure"]["message"]
    core = client.CoreV1Api(kube)
    pods = core.list_namespaced_pod(
        OPERATOR_NAMESPACE, label_selector="app.kubernetes.io/name=reactivejob-operator"
    ).items
    assert pods
    for pod in pods:
        assert pod.metadata is not None and pod.metadata.name is not None
        logged = core.read_namespaced_pod_log(pod.metadata.name, OPERATOR_NAMESPACE)
        assert value not in logged

"""Why a run failed, read from its Pods as the API server lists them (shapes as a kubelet 1.36
writes them): which container, its exit code and reason, and its termination message."""

from __future__ import annotations

from typing import Any

from reactivejob.core.failure import MESSAGE_LIMIT, NOTHING_FOUND, describe, diagnose, escaped
from reactivejob_api import ReactiveJobRunFailure as Failure


def pod(name: str, *containers: dict[str, Any], **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": {"containerStatuses": list(containers), **status}}


def terminated(name: str, code: int, reason: str = "Error", message: str = "",
               at: str = "2026-12-06T12:00:00Z") -> dict[str, Any]:  # fmt: skip
    ended = {"exitCode": code, "reason": reason, "finishedAt": at}
    if message:
        ended["message"] = message
    return {"name": name, "state": {"terminated": ended}}


def test_the_container_that_ended_with_a_code_last_is_the_cause() -> None:
    first = terminated("run", 3, message="schema v7 missing\n", at="2026-12-06T12:00:01Z")
    last = terminated("run", 3, message="still missing\n", at="2026-12-06T12:00:09Z")
    pods = [pod("migrate-a", first), pod("migrate-b", last, terminated("sidecar", 0))]
    failure = diagnose(pods)
    assert failure == Failure(
        pod="migrate-b", container="run", exit_code=3, reason="Error", message="still missing"
    )
    assert describe(failure) == (
        "container run of pod migrate-b exited with code 3 (Error): still missing"
    )


def test_an_oom_kill_and_a_container_that_cannot_run_keep_the_kubelets_reason() -> None:
    oom = diagnose([pod("p", terminated("run", 137, "OOMKilled"))])
    assert (oom.exit_code, oom.reason, oom.message) == (137, "OOMKilled", None)
    cannot = diagnose(
        [pod("p", terminated("run", 128, "ContainerCannotRun", "exec: no such file"))]
    )
    assert describe(cannot).endswith(
        "exited with code 128 (ContainerCannotRun): exec: no such file"
    )


def test_a_container_that_never_started_reads_its_waiting_reason() -> None:
    waiting = {"name": "run", "state": {"waiting": {"reason": "ImagePullBackOff",
               "message": 'Back-off pulling image "example.invalid/none:1"'}}}  # fmt: skip
    failure = diagnose([pod("p", waiting)])
    assert failure.exit_code is None and failure.reason == "ImagePullBackOff"
    assert describe(failure) == (
        'container run of pod p: ImagePullBackOff: Back-off pulling image "example.invalid/none:1"'
    )
    # A Job deadline deletes the Pod: the kubelet then shows it at ContainerCreating again.
    creating = {"name": "run", "state": {"waiting": {"reason": "ContainerCreating"}}}
    assert describe(diagnose([pod("p", creating)])) == (
        "container run of pod p never started (ContainerCreating)"
    )
    assert diagnose([pod("p", creating), pod("q", waiting)]).reason == "ImagePullBackOff"


def test_a_pod_evicted_as_a_whole_reads_its_own_reason() -> None:
    evicted = pod("p", reason="Evicted", message="The node was low on resource: memory.")
    assert describe(diagnose([evicted])) == (
        "pod p: Evicted: The node was low on resource: memory."
    )
    # With the container it stopped, ahead of any other Pod's exit code.
    killed = pod("q", terminated("run", 137), reason="DeadlineExceeded", message="too long")
    other = pod("r", terminated("run", 1, at="2026-12-06T13:00:00Z"))
    assert describe(diagnose([other, killed])) == (
        "container run of pod q exited with code 137 (DeadlineExceeded): too long"
    )


def test_a_container_still_running_when_a_deadline_stopped_the_job_is_named() -> None:
    running = {"name": "run", "state": {"running": {"startedAt": "2026-12-06T12:00:00Z"}}}
    assert describe(diagnose([pod("p", running)])) == "container run of pod p was still running"


def test_no_pod_left_says_nothing() -> None:
    assert diagnose([]) == NOTHING_FOUND and describe(NOTHING_FOUND) == ""


def test_the_message_is_cut_to_a_kib_and_its_control_characters_escaped() -> None:
    assert escaped("ok\n\tdone\x1b[31m\\\n") == "ok\\n\\tdone\\x1b[31m\\\\"
    long = "é" * MESSAGE_LIMIT  # two bytes each: cut at a character, never inside one
    kept = escaped(long)
    assert kept == "é" * (MESSAGE_LIMIT // 2)
    assert len(escaped("x" * 5000)) == MESSAGE_LIMIT

"""Why a run failed, in the words of its Pods: the container that failed, its exit code and
reason, and its termination message (the first 1 KiB, control characters escaped).

Pure: it reads the Pods of one failed Job as the API server lists them (one LIST by the Job's
controller-uid label, made only when a run has failed) and never their logs. What it finds is
kept in the run's history entry (``ReactiveJobRunFailure``), so it is read once per run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reactivejob_api import ReactiveJobRunFailure

MESSAGE_LIMIT = 1024  # bytes of the termination message kept, before escaping
# Waiting reasons that say nothing is wrong yet.
_STARTING = frozenset({"ContainerCreating", "PodInitializing"})
NOTHING_FOUND = ReactiveJobRunFailure()  # the Pods were read and said nothing (or were gone)


def describe(failure: ReactiveJobRunFailure) -> str:
    """One line for a condition message or an Event; empty when nothing was found."""
    if not failure.pod:
        return ""
    who = (
        f"container {failure.container} of pod {failure.pod}"
        if failure.container
        else (f"pod {failure.pod}")
    )
    if failure.exit_code is not None:
        said = f"{who} exited with code {failure.exit_code} ({failure.reason or 'Error'})"
    elif failure.reason in _STARTING:
        said = f"{who} never started ({failure.reason})"
    else:
        said = f"{who}: {failure.reason}" if failure.reason else f"{who} was still running"
    return f"{said}: {failure.message}" if failure.message else said


def within_bytes(text: str, limit: int) -> str:
    """The first ``limit`` bytes of ``text`` as UTF-8, never half a character."""
    return text.encode()[:limit].decode(errors="ignore")


def escaped(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """The first ``limit`` bytes of ``text`` (never half a character), with control characters
    written as escapes, so a message stays one line and cannot forge log or terminal output.
    Trailing white space (the last line's newline) is dropped."""
    cut = within_bytes(text, limit).rstrip()
    out = []
    for char in cut:
        code = ord(char)
        if char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\\":
            out.append("\\\\")
        elif code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0:
            out.append(f"\\x{code:02x}")
        else:
            out.append(char)
    return "".join(out)


def diagnose(pods: Sequence[Mapping[str, Any]]) -> ReactiveJobRunFailure:
    """The likeliest cause among a failed Job's Pods, in this order: a Pod's own reason
    (Evicted, DeadlineExceeded), with the container it stopped; the container that ended with
    a non-zero code last; the first that could not start (a waiting reason such as
    ErrImagePull); a container that was still running (a deadline stopped it); one that never
    started. ``NOTHING_FOUND`` when no Pod says anything.

    A Pod the job controller deletes (a Job deadline) is shown by the kubelet with every
    container that never ran back at ContainerCreating: the reason it could not start (a
    missing image) is gone from its status by the time the run has failed."""
    whole: list[ReactiveJobRunFailure] = []
    ended: list[tuple[str, ReactiveJobRunFailure]] = []
    stuck: list[ReactiveJobRunFailure] = []
    running: list[ReactiveJobRunFailure] = []
    starting: list[ReactiveJobRunFailure] = []
    for pod in pods:
        name = str((pod.get("metadata") or {}).get("name") or "")
        status = pod.get("status") or {}
        here: list[ReactiveJobRunFailure] = []
        for kind in ("initContainerStatuses", "containerStatuses"):
            for container in status.get(kind) or []:
                found = _container(name, container)
                if isinstance(found, tuple):
                    ended.append(found)
                    here.append(found[1])
                elif found is not None:
                    pile = running if found.reason is None else stuck
                    (starting if found.reason in _STARTING else pile).append(found)
        if status.get("reason"):  # the Pod as a whole was stopped: that says most
            said = here[0] if here else ReactiveJobRunFailure(pod=name)
            whole.append(
                said.model_copy(
                    update={
                        "reason": str(status["reason"]),
                        "message": escaped(str(status.get("message") or "")) or said.message,
                    }
                )
            )
    if whole:
        return whole[0]
    if ended:
        return max(ended, key=lambda pair: pair[0])[1]
    return (stuck or running or starting or [NOTHING_FOUND])[0]


def _container(
    pod: str, status: Mapping[str, Any]
) -> tuple[str, ReactiveJobRunFailure] | ReactiveJobRunFailure | None:
    """(when it ended, what it says) for a container that failed; a failure with a reason for
    one that cannot start or has not yet, and without one for one still running; else None."""
    name = str(status.get("name") or "")
    state = status.get("state") or {}
    terminated = state.get("terminated") or (status.get("lastState") or {}).get("terminated")
    if terminated and terminated.get("exitCode"):
        failure = ReactiveJobRunFailure(
            pod=pod,
            container=name,
            exit_code=int(terminated["exitCode"]),
            reason=str(terminated.get("reason") or "Error"),
            message=escaped(str(terminated.get("message") or "")) or None,
        )
        return str(terminated.get("finishedAt") or ""), failure
    waiting = state.get("waiting") or {}
    if waiting.get("reason"):
        message = escaped(str(waiting.get("message") or "")) or None
        return ReactiveJobRunFailure(
            pod=pod, container=name, reason=str(waiting["reason"]), message=message
        )
    if state.get("running"):
        return ReactiveJobRunFailure(pod=pod, container=name)
    return None

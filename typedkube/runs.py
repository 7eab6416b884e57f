"""Waiting for a ReactiveJob's run to finish: the typed clients' ``wait`` and ``apply_and_wait``.

Built on a watch of the one object (a field selector on its name), never on polling: it reads
the object once, then follows its changes from that resourceVersion (resuming from there when
the connection drops, as during an API server restart), and reads it again only when the
server says the version is too old (410), as an informer would. A run is judged from the
status the operator writes, read as plain JSON; what ``wait`` returns and ``on_change`` sees is
the client's model, as ``get`` gives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import httpx
from pydantic import BaseModel

from ._errors import ApiError, Expired
from ._verbs import L
from .aio import AsyncResourceClient
from .sync import ResourceClient

M = TypeVar("M", bound=BaseModel)

SUCCEEDED, FAILED = "Succeeded", "Failed"
DEFAULT_TIMEOUT = 600.0
Raw = dict[str, Any]
FIELD_MANAGER = "reactivejob-client"  # apply_and_wait's server-side apply owner, by default
RECONNECT = 0.5  # seconds between attempts to resume a watch the connection dropped


class RunFailed(Exception):
    """The run finished and failed; ``reason`` and ``message`` are the Job's (or, when no Job
    could be made, the operator's), the message with what the failed Pod said. ``failure``
    holds that as fields: which container, its exit code, the kubelet's reason and the
    termination message (None when no Pod said anything)."""

    def __init__(self, run: Run) -> None:
        super().__init__(f"{run.job_name or 'no job'}: {run.reason}: {run.message}")
        self.run = run
        self.job_name, self.reason, self.message = run.job_name, run.reason, run.message
        self.failure = run.failure
        self.container = run.failure.container if run.failure else None
        self.exit_code = run.failure.exit_code if run.failure else None


@dataclass(frozen=True)
class PodFailure:
    """What a failed run's Pod said, as the operator recorded it in the run's history entry."""

    pod: str
    container: str | None
    exit_code: int | None
    reason: str | None  # the kubelet's: Error, OOMKilled, ImagePullBackOff...
    message: str | None  # the termination message, first 1 KiB, control characters escaped

    @classmethod
    def of(cls, entry: Mapping[str, Any] | None) -> PodFailure | None:
        said = (entry or {}).get("failure") or {}
        if not said.get("pod"):
            return None
        code = said.get("exitCode")
        return cls(
            pod=str(said["pod"]),
            container=said.get("container"),
            exit_code=int(code) if code is not None else None,
            reason=said.get("reason"),
            message=said.get("message"),
        )


class RunTimeout(TimeoutError):
    def __init__(self, name: str, timeout: float, last: Mapping[str, Any] | None) -> None:
        state = ((last or {}).get("status") or {}).get("state", "no status")
        super().__init__(f"{name}: the run did not finish within {timeout:g}s (state: {state})")
        self.last = last


@dataclass(frozen=True)
class Run:
    result: str  # Succeeded | Failed
    job_name: str | None
    reason: str
    message: str
    object: Mapping[str, Any]
    failure: PodFailure | None = None  # for a failed run whose Pod said why


def finished_run(obj: Mapping[str, Any], for_run: str | None = None) -> Run | None:
    """The run wanted, once finished: the one for the object's current generation, or, with
    ``for_run``, the one made for that rerun token. None while it has not finished (or has not
    been made yet)."""
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    if status.get("observedGeneration") != meta.get("generation"):
        return None  # the operator has not seen this generation yet
    history = status.get("history") or []
    if for_run is not None:
        entry = next((e for e in history if e.get("rerun") == for_run), None)
        if entry is None:
            return None  # that rerun's Job does not exist yet
        if entry is not history[0]:  # a newer run came since: judge it by its own record
            if entry.get("result") not in (SUCCEEDED, FAILED):
                return None
            return Run(
                entry["result"],
                entry.get("jobName"),
                entry.get("reason") or entry["result"],
                entry.get("message") or "",
                obj,
                PodFailure.of(entry),
            )
    state = status.get("state")
    if state not in ("Ready", "Error"):
        return None
    ready = ready_condition(status)
    job_name = status.get("currentJobName")
    entry = next((e for e in history if e.get("jobName") == job_name), None)
    return Run(
        result=SUCCEEDED if state == "Ready" else FAILED,
        job_name=job_name,
        reason=ready.get("reason", ""),
        message=ready.get("message", ""),
        object=obj,
        failure=PodFailure.of(entry) if state == "Error" else None,
    )


def ready_condition(status: Mapping[str, Any]) -> Mapping[str, Any]:
    """The status's Ready condition, or an empty one."""
    conditions = status.get("conditions") or []
    found: Mapping[str, Any] = next((c for c in conditions if c.get("type") == "Ready"), {})
    return found


def _transient(error: Exception) -> bool:
    """Worth another try: no connection, or the server busy or starting (5xx, 429)."""
    if isinstance(error, ApiError):
        return error.status >= 500 or error.status == 429
    return True


def _outcome(run: Run) -> Mapping[str, Any]:
    if run.result == FAILED:
        raise RunFailed(run)
    return run.object


class _Follow:
    """One wait's state, shared by the sync and async loops: the object as last seen, the
    version to resume the watch from (None: read the object again), and the deadline."""

    def __init__(
        self,
        name: str,
        for_run: str | None,
        timeout: float,
        on_change: Callable[[Raw], None] | None,
    ) -> None:
        self.name, self.for_run, self.timeout, self.on_change = name, for_run, timeout, on_change
        self.deadline = time.monotonic() + timeout
        self.obj: dict[str, Any] = {}
        self.version: str | None = None

    def read(self, obj: dict[str, Any]) -> None:
        self.version = obj["metadata"]["resourceVersion"]
        self._seen(obj)

    def outcome(self) -> Mapping[str, Any] | None:
        """The object once its run succeeded (RunFailed, RunTimeout raised); None: watch on."""
        if (run := finished_run(self.obj, self.for_run)) is not None:
            return _outcome(run)
        if time.monotonic() >= self.deadline:
            raise RunTimeout(self.name, self.timeout, self.obj)
        return None

    def watch_options(self) -> dict[str, Any]:
        remaining = self.deadline - time.monotonic()
        return {
            "resource_version": self.version,
            "field_selector": f"metadata.name={self.name}",
            "timeout_seconds": max(1, math.ceil(remaining)),  # the server ends it in time
        }

    def event(self, kind: str, raw: dict[str, Any]) -> bool:
        """Take one watch event; True when the object changed (judge it again)."""
        self.version = raw["metadata"].get("resourceVersion", self.version)
        if kind not in ("ADDED", "MODIFIED"):
            return False  # a bookmark, or the object deleted (its next read says NotFound)
        self._seen(raw)
        return True

    def failed(self, error: Exception) -> bool:
        """After a failed read or watch: re-raise what another try cannot mend; True when the
        next try should wait a moment (the server is away), False to go on at once."""
        if isinstance(error, Expired):
            self.version = None  # too old to resume from: read the object afresh, as a relist
            return False
        if not _transient(error) or time.monotonic() > self.deadline:
            raise error
        return True

    def _seen(self, obj: dict[str, Any]) -> None:
        self.obj = obj
        if self.on_change is not None:
            self.on_change(obj)


class RunWaits(ResourceClient[M, L]):
    """The synchronous ReactiveJob client's waits."""

    def wait(
        self,
        name: str,
        namespace: str,
        *,
        for_run: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        on_change: Callable[[M], None] | None = None,
    ) -> M:
        """Until the run (see ``finished_run``) has finished: the object when it succeeded;
        raises RunFailed when it failed, RunTimeout after ``timeout`` seconds. ``on_change``
        sees every version of the object on the way (progress for a terminal)."""
        follow = _Follow(name, for_run, timeout, on_change and _typed(self.model, on_change))
        while True:
            try:
                if follow.version is None:
                    follow.read(self.get_json(name, namespace))
                if (done := follow.outcome()) is not None:
                    return self._one(done)
                events = self.watch_json(namespace, **follow.watch_options())
                with contextlib.closing(events):  # leaving the stream early ends the request now
                    for kind, raw in events:
                        if follow.event(kind, raw):
                            break
            except (OSError, httpx.TransportError, ApiError) as error:
                if follow.failed(error):
                    time.sleep(RECONNECT)  # the API server restarts: resume from the version had

    def apply_and_wait(
        self,
        obj: Mapping[str, Any],
        *,
        field_manager: str = FIELD_MANAGER,
        timeout: float = DEFAULT_TIMEOUT,
        on_change: Callable[[M], None] | None = None,
    ) -> M:
        """Server-side apply ``obj``, then ``wait`` for the run of what was applied: the CI
        pipeline's "apply, then wait"."""
        applied = self.apply(dict(obj), field_manager=field_manager)
        meta = applied.model_dump(by_alias=True)["metadata"]
        return self.wait(meta["name"], meta["namespace"], timeout=timeout, on_change=on_change)


class AsyncRunWaits(AsyncResourceClient[M, L]):
    """The asynchronous ReactiveJob client's waits; the same as ``RunWaits``."""

    async def wait(
        self,
        name: str,
        namespace: str,
        *,
        for_run: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        on_change: Callable[[M], None] | None = None,
    ) -> M:
        follow = _Follow(name, for_run, timeout, on_change and _typed(self.model, on_change))
        while True:
            try:
                if follow.version is None:
                    follow.read(await self.get_json(name, namespace))
                if (done := follow.outcome()) is not None:
                    return self._one(done)
                events = self.watch_json(namespace, **follow.watch_options())
                async with contextlib.aclosing(events):
                    async for kind, raw in events:
                        if follow.event(kind, raw):
                            break
            except (TimeoutError, OSError, aiohttp.ClientError, ApiError) as error:
                if follow.failed(error):
                    await asyncio.sleep(RECONNECT)

    async def apply_and_wait(
        self,
        obj: Mapping[str, Any],
        *,
        field_manager: str = FIELD_MANAGER,
        timeout: float = DEFAULT_TIMEOUT,
        on_change: Callable[[M], None] | None = None,
    ) -> M:
        applied = await self.apply(dict(obj), field_manager=field_manager)
        meta = applied.model_dump(by_alias=True)["metadata"]
        return await self.wait(
            meta["name"], meta["namespace"], timeout=timeout, on_change=on_change
        )


def _typed(model: type[M], on_change: Callable[[M], None]) -> Callable[[Raw], None]:
    return lambda raw: on_change(model.model_validate(raw))

"""Kubernetes Events on ReactiveJobs (events.k8s.io/v1): JobCreated, JobSucceeded, JobFailed...

As client-go's recorder does, off the reconcile's critical path and aggregated:
- ``record()`` only queues; one task posts. A reconcile never waits for, or fails on, an Event.
- The same happening on the same object again (same type, reason and note) bumps the first
  Event's ``series`` (count, lastObservedTime) instead of making a new object.
- Under pressure Events are dropped (counted in a metric), never reconciles: the queue is
  bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from reactivejob.core.decide import Event as Happening
from reactivejob.core.failure import within_bytes
from reactivejob.core.objects import stamp
from reactivejob_api import API_VERSION, KIND, ApiError, NotFound, ReactiveJob
from reactivejob_api.aio import AsyncEventClient
from reactivejob_api.models import Event

from .clock import SYSTEM, Clock
from .metrics import EVENTS_DROPPED

log = logging.getLogger(__name__)

REPORTING_CONTROLLER = "batch.cs.sap.com/reactivejob-operator"
_NOTE_LIMIT = 1024  # bytes: the API server rejects longer notes
_QUEUE_LIMIT = 1000
_SERIES_KEPT = 4096  # happenings remembered for aggregation, least recently seen dropped first
_SERIES_WINDOW = 600.0  # seconds; client-go's event cache keeps a series this long too


@dataclass(frozen=True)
class _Series:
    name: str
    namespace: str
    count: int
    started: float


class EventRecorder:
    def __init__(
        self, events: AsyncEventClient, instance: str | None = None, clock: Clock = SYSTEM
    ) -> None:
        self._events = events
        self._clock = clock
        self._instance = instance or socket.gethostname()
        self._queue: asyncio.Queue[tuple[dict[str, Any], Happening]] = asyncio.Queue(_QUEUE_LIMIT)
        self._series: OrderedDict[tuple[str, str, str, str], _Series] = OrderedDict()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._post_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def record(self, regarding: ReactiveJob, happening: Happening) -> None:
        meta = regarding.metadata
        assert meta is not None
        target = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "name": meta.name,
            "namespace": meta.namespace,
            "uid": meta.uid,
            "resourceVersion": meta.resource_version,
        }
        try:
            self._queue.put_nowait((target, happening))
        except asyncio.QueueFull:
            EVENTS_DROPPED.inc()
            log.debug("event queue full: dropped %s on %s", happening.reason, meta.name)

    async def _post_forever(self) -> None:
        while True:
            target, happening = await self._queue.get()
            try:
                await self._post(target, happening)
            except ApiError as error:
                EVENTS_DROPPED.inc()
                log.warning(
                    "could not post event %s on %s: %s", happening.reason, target["name"], error
                )
            except Exception as error:  # a lost connection must not end the recorder
                EVENTS_DROPPED.inc()
                log.warning("could not post event %s: %r", happening.reason, error)

    async def _post(self, target: dict[str, Any], happening: Happening) -> None:
        # Bytes, not characters: a quoted termination message may be UTF-8.
        note = within_bytes(happening.message, _NOTE_LIMIT)
        key = (target["uid"], happening.type, happening.reason, note)
        now = stamp(self._clock.now(), micro=True)
        series = self._series.get(key)
        if series is not None and self._clock.monotonic() - series.started < _SERIES_WINDOW:
            count = series.count + 1
            patch = {"series": {"count": count, "lastObservedTime": now}}
            with contextlib.suppress(NotFound):  # expired meanwhile: start a new one below
                await self._events.patch(series.name, series.namespace, patch)
                self._remember(key, _Series(series.name, series.namespace, count, series.started))
                return
        # Named as client-go names them: <object>.<hex nanoseconds>.
        name = f"{target['name']}.{time.time_ns():x}"
        event = Event.model_validate(
            {
                "metadata": {"name": name, "namespace": target["namespace"]},
                "eventTime": now,
                "reportingController": REPORTING_CONTROLLER,
                "reportingInstance": self._instance,
                "action": "Reconcile",
                "type": happening.type,
                "reason": happening.reason,
                "note": note,
                "regarding": target,
            }
        )
        await self._events.create(event)
        self._remember(key, _Series(name, target["namespace"], 1, self._clock.monotonic()))

    def _remember(self, key: tuple[str, str, str, str], series: _Series) -> None:
        self._series[key] = series
        self._series.move_to_end(key)
        while len(self._series) > _SERIES_KEPT:
            self._series.popitem(last=False)

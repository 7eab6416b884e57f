"""Kubernetes Events on ReactiveJobs (events.k8s.io/v1): JobCreated, JobSucceeded, JobFailed...

Best effort, as everywhere in Kubernetes: an Event that cannot be posted is logged, and never
makes a reconcile fail or repeat.
"""

from __future__ import annotations

import datetime
import logging
import socket
import time
from typing import Any

from reactivejob_api import ApiError
from reactivejob_api.aio import AsyncEventClient
from reactivejob_api.models import Event

from .reconcile import Event as Happening

log = logging.getLogger(__name__)

REPORTING_CONTROLLER = "batch.cs.sap.com/reactivejob-operator"
_NOTE_LIMIT = 1024  # the API server rejects longer notes


class EventRecorder:
    def __init__(self, events: AsyncEventClient, instance: str | None = None) -> None:
        self._events = events
        self._instance = instance or socket.gethostname()

    async def record(self, regarding: dict[str, Any], happening: Happening) -> None:
        meta = regarding["metadata"]
        moment = datetime.datetime.now(datetime.UTC)
        now = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        # Named as client-go names them: <object>.<hex nanoseconds>.
        unique = f"{meta['name']}.{time.time_ns():x}"
        event = Event.model_validate(
            {
                "metadata": {"name": unique, "namespace": meta["namespace"]},
                "eventTime": now,
                "reportingController": REPORTING_CONTROLLER,
                "reportingInstance": self._instance,
                "action": "Reconcile",
                "type": happening.type,
                "reason": happening.reason,
                "note": happening.message[:_NOTE_LIMIT],
                "regarding": {
                    "apiVersion": regarding["apiVersion"],
                    "kind": regarding["kind"],
                    "name": meta["name"],
                    "namespace": meta["namespace"],
                    "uid": meta["uid"],
                    "resourceVersion": meta.get("resourceVersion"),
                },
            }
        )
        try:
            await self._events.create(event)
        except ApiError as error:
            log.warning("could not post event %s on %s: %s", happening.reason, meta["name"], error)

"""Stand-ins for the engine's unit tests: a clock the test moves, and in-memory Lease and Event
APIs that answer as the API server does (resourceVersion conflicts, NotFound). The engine's
real behaviour against a real API server is tested in tests/integration."""

from __future__ import annotations

import asyncio
import copy
import datetime
from collections.abc import Callable
from typing import Any

from reactivejob_api import AlreadyExists, ApiError, Conflict, NotFound
from reactivejob_api.models import Event, Lease

T0 = datetime.datetime(2026, 12, 6, 12, 0, 0, tzinfo=datetime.UTC)


class FakeClock:
    def __init__(self) -> None:
        self.seconds = 0.0

    def advance(self, seconds: float) -> None:
        self.seconds += seconds

    def monotonic(self) -> float:
        return self.seconds

    def now(self) -> datetime.datetime:
        return T0 + datetime.timedelta(seconds=self.seconds)


class FakeLeases:
    """One namespace's Leases. ``down`` makes every call fail as an overloaded server answers
    (503); ``broken`` makes what the HTTP client raises when there is no server to answer;
    ``hanging`` makes every call wait forever, as one on a silently dropped connection does."""

    def __init__(self) -> None:
        self.stored: dict[str, dict[str, Any]] = {}
        self.version = 0
        self.down = False
        self.broken: Callable[[], Exception] | None = None
        self.hanging = False

    async def _check(self) -> None:
        if self.hanging:
            await asyncio.Event().wait()
        if self.broken is not None:
            raise self.broken()
        if self.down:
            raise ApiError(503, "ServiceUnavailable", "the API server is down")

    async def get(self, name: str, namespace: str) -> Lease:
        await self._check()
        if name not in self.stored:
            raise NotFound(404, "NotFound", f"leases {name} not found")
        return Lease.model_validate(copy.deepcopy(self.stored[name]))

    async def create(self, lease: Lease) -> Lease:
        await self._check()
        body = lease.model_dump(by_alias=True, exclude_none=True, mode="json")
        if body["metadata"]["name"] in self.stored:
            raise AlreadyExists(409, "AlreadyExists", "exists")
        return self._store(body)

    async def replace(self, lease: Lease) -> Lease:
        await self._check()
        body = lease.model_dump(by_alias=True, exclude_none=True, mode="json")
        current = self.stored[body["metadata"]["name"]]
        if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise Conflict(409, "Conflict", "the object has been modified")
        return self._store(body)

    def holder(self, name: str) -> str | None:
        holder: str | None = self.stored[name]["spec"].get("holderIdentity")
        return holder

    def _store(self, body: dict[str, Any]) -> Lease:
        self.version += 1
        body["metadata"]["resourceVersion"] = str(self.version)
        self.stored[body["metadata"]["name"]] = body
        return Lease.model_validate(copy.deepcopy(body))


class FakeEvents:
    """events.k8s.io Events: what was created and how each was patched, in order."""

    def __init__(self) -> None:
        self.created: list[Event] = []
        self.patches: list[tuple[str, dict[str, Any]]] = []
        self.expired: set[str] = set()  # names the server no longer has (TTL)

    async def create(self, event: Event) -> Event:
        self.created.append(event)
        return event

    async def patch(self, name: str, namespace: str, patch: dict[str, Any]) -> Event:
        if name in self.expired:
            raise NotFound(404, "NotFound", f"events {name} not found")
        self.patches.append((name, patch))
        return next(e for e in self.created if e.metadata and e.metadata.name == name)

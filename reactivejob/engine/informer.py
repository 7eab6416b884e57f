"""A watch-fed cache of one kind, in the style of client-go's Reflector and SharedInformer.

List (in pages), then watch from the list's resourceVersion with bookmarks, so the watch can
resume after a timeout or a dropped connection without listing again. Only a 410 Expired (the
server compacted past our resourceVersion) makes it list again, and that relist replaces the
store wholesale: an object deleted while we were not watching is reported deleted then, so it
never stays as a ghost. Errors never end the loop: it retries with capped, jittered backoff,
for as long as the process runs, because an API server outage (an upgrade) is temporary.

Objects pass through ``transform`` before they are stored, so the store keeps only what
decisions need (controller-runtime's cache transforms): memory does not grow with pod templates.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import aiohttp

from reactivejob_api import ApiError, Expired, NotFound
from typedkube.aio import AsyncResourceClient

from .metrics import CACHED_OBJECTS, RELISTS, WATCH_RESTARTS

log = logging.getLogger(__name__)

V = TypeVar("V")
Key = tuple[str, str]  # (namespace, name)
Handler = Callable[[Key, Any, Any], None]  # key, old value or None, new value or None

PAGE_SIZE = 500
WATCH_TIMEOUT = 300  # seconds a watch request may last; the server ends it, we resume at once
BACKOFF_START, BACKOFF_CAP = 0.2, 30.0


@dataclass
class Informer(Generic[V]):
    """One kind in one scope (a namespace, or all): ``store`` is what the server has."""

    client: AsyncResourceClient[Any, Any]  # its kind names the cache in metrics and logs
    namespace: str | None  # None: all namespaces
    # The object as the server sent it, and what the store held for it (to reuse work).
    transform: Callable[[dict[str, Any], V | None], V]
    handler: Handler
    label_selector: str | None = None  # applied by the server
    store: dict[Key, V] = field(default_factory=dict)
    synced: asyncio.Event = field(default_factory=asyncio.Event)  # first list is complete
    watching: bool = False  # a watch stream is open now (readiness)
    resource_version: str | None = None
    last_error: BaseException | None = None  # why the last list or watch failed, until one works
    on_synced: Callable[[], None] | None = None  # after each complete list
    watch_timeout: int = WATCH_TIMEOUT
    page_size: int = PAGE_SIZE
    not_served: str = ""  # what a 404 on the list means (a CRD not installed), for the log

    @property
    def kind(self) -> str:
        return self.client.kind

    async def run(self) -> None:
        backoff = BACKOFF_START
        while True:
            try:
                if self.resource_version is None:
                    await self._relist()
                await self._watch_once()
                backoff = BACKOFF_START  # the server ended a healthy watch: resume from rv
            except Expired as error:
                if self.resource_version is None:
                    # A page's continue token expired mid-list (a slow list of big objects):
                    # list again, but not at once, or it repeats as fast as it fails.
                    backoff = await self._failed(error, backoff)
                    continue
                log.info("%s watch expired at resourceVersion %s: relisting", self.kind,
                         self.resource_version)  # fmt: skip
                RELISTS.labels(self.kind).inc()
                self.resource_version = None
            except Exception as error:
                backoff = await self._failed(error, backoff)
            finally:
                self.watching = False

    async def _failed(self, error: Exception, backoff: float) -> float:
        """Wait out ``backoff`` (jittered) after a failed list or watch; the next backoff."""
        self.watching = False
        self.last_error = error
        WATCH_RESTARTS.labels(self.kind).inc()
        if isinstance(error, (ApiError, aiohttp.ClientError, OSError, ValueError)):
            # ValueError: a stream cut mid-line is not valid JSON; OSError covers timeouts.
            hint = f": {self.not_served}" if isinstance(error, NotFound) and self.not_served else ""
            log.warning("%s watch failed (%s)%s; retrying in %.1fs", self.kind,
                        str(error).strip() or type(error).__name__, hint, backoff)  # fmt: skip
        else:  # a bug: say so loudly, but a cache that stops would stall everything
            log.exception("%s watch failed unexpectedly; retrying", self.kind)
        await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
        return min(backoff * 2, BACKOFF_CAP)

    def _opened(self) -> None:
        self.watching = True

    async def _relist(self) -> None:
        fresh: dict[Key, V] = {}
        token: str | None = None
        version = ""
        while True:
            page = await self.client.list_json(
                self.namespace,
                label_selector=self.label_selector,
                limit=self.page_size,
                continue_=token,
            )
            for item in page.get("items") or []:
                key = _key(item)
                fresh[key] = self.transform(item, self.store.get(key))
            meta = page.get("metadata") or {}
            version = version or meta.get("resourceVersion", "")  # the snapshot of page one
            token = meta.get("continue")
            if not token:
                break
        old, self.store = self.store, fresh
        self.resource_version = version
        CACHED_OBJECTS.labels(self.kind).set(len(fresh))
        for key in old.keys() - fresh.keys():
            self.handler(key, old[key], None)
        for key, value in fresh.items():
            if old.get(key) != value:
                self.handler(key, old.get(key), value)
        self.synced.set()
        self.last_error = None
        if self.on_synced is not None:
            self.on_synced()

    async def _watch_once(self) -> None:
        assert self.resource_version is not None
        # Watching once the server has answered, until the stream fails or runs past its time
        # (a connection that died in silence): not from the request on, or a watch stuck on a
        # dead connection would keep readiness green on a stale cache.
        events = self.client.watch_json(
            self.namespace,
            opened=self._opened,
            resource_version=self.resource_version,
            label_selector=self.label_selector,
            allow_bookmarks=True,
            timeout_seconds=self.watch_timeout,
        )
        async for kind, raw in events:
            meta = raw.get("metadata") or {}
            self.resource_version = meta.get("resourceVersion") or self.resource_version
            if kind == "BOOKMARK":
                continue
            key = _key(raw)
            old = self.store.get(key)
            if kind == "DELETED":
                self.store.pop(key, None)
                new = None
            else:
                new = self.transform(raw, old)
                self.store[key] = new
            CACHED_OBJECTS.labels(self.kind).set(len(self.store))
            self.handler(key, old, new)


def _key(raw: dict[str, Any]) -> Key:
    meta = raw["metadata"]
    return meta.get("namespace") or "", meta["name"]

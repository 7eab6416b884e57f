"""What runs beside kopf's watches: reconcile workers, leader election, probes, metrics."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from reactivejob_api import ApiError, Connection
from reactivejob_api.aio import AsyncLeaseClient

from .controller import Controller, Key
from .leader import LeaderElection, LeaderElector
from .metrics import BACKLOG, LEADER, RECONCILE_DURATION, RECONCILES
from .probes import ProbeServers
from .workqueue import WorkQueue

log = logging.getLogger("reactivejob")


@dataclass(frozen=True)
class WebhookOptions:
    cert_dir: Path  # tls.crt and tls.key, re-read when they change (cert-manager rotation)
    port: int = 9443
    bind_address: str = "0.0.0.0"
    reload_interval: float = 10.0


@dataclass
class Options:
    connection: Connection
    namespaces: tuple[str, ...] = ()  # empty: all namespaces
    workers: int = 4
    webhook: WebhookOptions | None = None
    leader_election: LeaderElection | None = None
    health_address: tuple[str, int] | None = None
    metrics_address: tuple[str, int] | None = None


@dataclass
class Runtime:
    """Shared by the kopf handlers through kopf's memo."""

    options: Options
    queue: WorkQueue[Key] = field(default_factory=WorkQueue)
    controller: Controller | None = None
    elector: LeaderElector | None = None
    kopf_ready: threading.Event = field(default_factory=threading.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    probes: ProbeServers = field(default_factory=ProbeServers)
    leading: asyncio.Event | None = None

    def enqueue(self, key: Key) -> None:
        self.queue.add(key)
        BACKLOG.set(len(self.queue))

    async def start(self) -> None:
        options = self.options
        self.controller = Controller(options.connection)
        self.leading = asyncio.Event()
        if options.leader_election is None:
            self.leading.set()
            LEADER.set(1)
        else:
            leases = AsyncLeaseClient(options.connection, http=self.controller.http)
            self.elector = LeaderElector(
                leases, options.leader_election, on_change=self._leadership, on_lost=_stop_now
            )
            self.tasks.append(asyncio.create_task(self.elector.run()))
        self.tasks += [
            asyncio.create_task(self.queue.work(self._reconcile)) for _ in range(options.workers)
        ]
        await self.probes.start(options.health_address, options.metrics_address, self._ready)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.elector is not None:
            await self.elector.release()
        self.queue.close()
        await self.probes.stop()
        if self.controller is not None:
            await self.controller.close()

    def _leadership(self, leading: bool) -> None:
        assert self.leading is not None
        LEADER.set(1 if leading else 0)
        if leading:
            self.leading.set()

    async def _reconcile(self, key: Key) -> float | None:
        assert self.controller is not None and self.leading is not None
        await self.leading.wait()  # followers queue keys but never act on them
        BACKLOG.set(len(self.queue))
        started = time.monotonic()
        try:
            again = await self.controller.reconcile(key)
        except Exception as error:
            RECONCILES.labels("error").inc()
            log.warning("reconcile %s/%s failed, will retry: %s", *key, error)
            raise
        finally:
            RECONCILE_DURATION.observe(time.monotonic() - started)
        RECONCILES.labels("success" if again is None else "requeue").inc()
        log.debug("%s/%s: reconciled", *key)
        return again

    async def _ready(self) -> bool:
        """Ready once kopf's watches run and the API server answers us (RBAC included)."""
        if not self.kopf_ready.is_set() or self.controller is None:
            return False
        scope = self.options.namespaces[0] if self.options.namespaces else None
        try:
            await self.controller.reactive_jobs.list(scope, limit=1)
        except (ApiError, httpx.HTTPError) as error:
            log.warning("not ready: %s", error)
            return False
        return True


def _stop_now() -> None:
    """A leader without its Lease must not take one more step: exit, and let Kubernetes
    restart the Pod as a follower."""
    logging.shutdown()
    os._exit(1)

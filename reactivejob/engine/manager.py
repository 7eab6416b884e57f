"""What the operator runs: caches, reconcile workers, events, leader election, probes.

kopf keeps what it does well (process lifecycle, signals, admission routing); everything that
reads the cluster is here, on one HTTP pool (``ApiClients``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from reactivejob.serve.probes import ProbeServers
from reactivejob_api import Connection

from .cache import Cache
from .clients import ApiClients
from .config_cache import ConfigCache
from .elector import LeaderElection, LeaderElector
from .events import EventRecorder
from .executor import Controller
from .informer import Key
from .metrics import LEADER, RECONCILE_DURATION, RECONCILES
from .workqueue import WorkQueue

log = logging.getLogger("reactivejob")

# Measured with benchmarks/reconcile.py on 2 cores (see its output): more concurrent reconciles
# keep the API server busy while each waits on its writes; past this, gains vanish.
DEFAULT_WORKERS = 16


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
    workers: int = DEFAULT_WORKERS
    webhook: WebhookOptions | None = None
    leader_election: LeaderElection | None = None
    health_address: tuple[str, int] | None = None
    metrics_address: tuple[str, int] | None = None
    config_triggers: bool = False  # watch ConfigMaps and Secrets for spec.rerunOnConfigChange


@dataclass
class Runtime:
    """Built before kopf starts; kopf's startup and cleanup handlers start and stop it."""

    options: Options
    queue: WorkQueue[Key] = field(default_factory=WorkQueue)
    kopf_ready: threading.Event = field(default_factory=threading.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    probes: ProbeServers = field(default_factory=ProbeServers)
    clients: ApiClients | None = None
    cache: Cache | None = None
    controller: Controller | None = None
    recorder: EventRecorder | None = None
    elector: LeaderElector | None = None
    leading: asyncio.Event | None = None
    _caches: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        options = self.options
        self.clients = clients = ApiClients(options.connection)
        # Followers fill their caches too, so a takeover acts at once, with no relist.
        config = (
            ConfigCache(clients, options.namespaces, on_change=self.queue.add)
            if options.config_triggers
            else None
        )
        self.cache = Cache(clients, options.namespaces, on_change=self.queue.add, config=config)
        self.recorder = EventRecorder(clients.events)
        self.recorder.start()
        self.controller = Controller(clients, self.cache, self.recorder)
        self.leading = asyncio.Event()
        if options.leader_election is None:
            self.leading.set()
            LEADER.set(1)
        else:
            self.elector = LeaderElector(
                clients.leases, options.leader_election, on_change=self._leadership,
                on_lost=_stop_now,
            )  # fmt: skip
            self.tasks.append(asyncio.create_task(self.elector.run()))
        # The config caches do not gate readiness or other reconciles: without the rights to
        # list Secrets, only the objects that opt in wait (and say why).
        informers = [*self.cache.informers, *(config.informers if config is not None else [])]
        self._caches = [asyncio.create_task(i.run()) for i in informers]
        self.tasks += self._caches
        self.tasks += [
            asyncio.create_task(self.queue.work(self._reconcile)) for _ in range(options.workers)
        ]
        await self.probes.start(
            options.health_address, options.metrics_address, self._ready, self._healthy
        )

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.elector is not None:
            await self.elector.release()
        self.queue.close()
        await self.probes.stop()
        if self.recorder is not None:
            await self.recorder.stop()
        if self.clients is not None:
            await self.clients.close()

    def _leadership(self, leading: bool) -> None:
        assert self.leading is not None
        LEADER.set(1 if leading else 0)
        if leading:
            self.leading.set()

    async def _reconcile(self, key: Key) -> float | None:
        assert self.controller is not None and self.leading is not None
        assert self.cache is not None
        await self.cache.wait_synced()  # never act on a partial view of the cluster
        await self.leading.wait()  # followers queue keys but never act on them
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
        """Ready once kopf runs and every cache has listed and is watching now."""
        cache = self.cache
        return (
            self.kopf_ready.is_set() and cache is not None and cache.synced() and cache.watching()
        )

    async def _healthy(self) -> bool:
        """Unhealthy only if a cache loop has ended: it retries forever, so that is a bug the
        kubelet should answer with a restart. An API outage is not (readiness shows it)."""
        return not any(task.done() for task in self._caches)


def _stop_now() -> None:
    """A leader without its Lease must not take one more step: exit, and let Kubernetes
    restart the Pod as a follower."""
    logging.shutdown()
    os._exit(1)

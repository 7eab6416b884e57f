"""The manager: caches, reconcile workers, Events and leader election on one HTTP pool, built
whole by ``Manager.start`` and ended by ``stop``.

As controller-runtime's manager does, the workers start only once every cache has listed and
leadership is won: until then keys queue up, and a follower never holds one "active". The
manager says whether it is ready and healthy; the process face (serve/) asks it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field

from reactivejob_api import Connection

from .cache import Cache
from .clients import ApiClients
from .config_cache import ConfigCache
from .elector import LeaderElection, LeaderElector
from .events import EventRecorder
from .executor import Executor
from .informer import Key
from .metrics import LEADER, RECONCILE_DURATION, RECONCILES
from .workload_cache import KueueSource, WorkloadCache
from .workqueue import WorkQueue

log = logging.getLogger("reactivejob")

# Measured with benchmarks/reconcile.py on 2 cores (see its output): more concurrent reconciles
# keep the API server busy while each waits on its writes; past this, gains vanish.
DEFAULT_WORKERS = 16


@dataclass(frozen=True)
class Options:
    connection: Connection
    namespaces: tuple[str, ...] = ()  # empty: all namespaces
    workers: int = DEFAULT_WORKERS
    leader_election: LeaderElection | None = None
    config_triggers: bool = False  # watch ConfigMaps and Secrets for spec.rerunOnConfigChange
    config_hash_key: bytes | None = field(default=None, repr=False)  # a secret: never shown
    kueue: bool = False  # watch Kueue's Workloads: Queued, Admitted, Evicted in the status
    kueue_manages_all: bool = False  # Kueue's manageJobsWithoutQueueName is set


class Manager:
    def __init__(self, options: Options, clients: ApiClients) -> None:
        """The pieces, wired; ``Manager.start`` makes them (an aiohttp session needs a running
        loop) and sets them going."""
        self.options = options
        self.clients = clients
        self.queue: WorkQueue[Key] = WorkQueue()
        # Followers fill their caches too, so a takeover acts at once, with no relist.
        config = (
            ConfigCache(clients, options.namespaces, self.queue.add, options.config_hash_key)
            if options.config_triggers
            else None
        )
        self.cache = Cache(clients, options.namespaces, on_change=self.queue.add, config=config)
        self.workloads = (
            WorkloadCache(clients, options.namespaces, self.cache.owner_of_job, self.queue.add)
            if options.kueue
            else None
        )
        self.recorder = EventRecorder(clients.events)
        self.executor = Executor(
            clients,
            self.cache,
            self.recorder,
            kueue=KueueSource(self.workloads, manages_all=options.kueue_manages_all),
        )
        self.leading = asyncio.Event()
        self.elector = (
            LeaderElector(clients.leases, options.leader_election, self._leadership, _stop_now)
            if options.leader_election is not None
            else None
        )
        # The config and Workload caches do not gate readiness or other reconciles: without the
        # rights to list Secrets, only the objects that opt in wait (and say why); without
        # Workloads, a queued Job reads Queued even when it was evicted.
        self._informers = [
            *self.cache.informers,
            *(config.informers if config else []),
            *(self.workloads.informers if self.workloads else []),
        ]
        self._forever: list[asyncio.Task[None]] = []  # the caches and the elector: none ever ends
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    async def start(cls, options: Options) -> Manager:
        manager = cls(options, ApiClients(options.connection))
        manager._launch()
        return manager

    def _launch(self) -> None:
        self.recorder.start()
        self._forever = [asyncio.create_task(i.run()) for i in self._informers]
        # Never act on a partial view of the cluster; followers queue keys but never act.
        workers = self.queue.run(
            self._reconcile, self.options.workers, self.cache.wait_synced, self.leading.wait
        )
        self._tasks = [*self._forever, asyncio.create_task(workers)]
        if self.elector is None:
            self._leadership(True)
        else:
            campaign = asyncio.create_task(self.elector.run())
            self._forever.append(campaign)
            self._tasks.append(campaign)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.elector is not None:
            await self.elector.release()
        self.queue.close()
        await self.recorder.stop()
        await self.clients.close()

    def ready(self) -> bool:
        """Every cache has listed and is watching now."""
        return self.cache.synced() and self.cache.watching()

    def healthy(self) -> bool:
        """False only if a cache loop or the elector has ended: both retry forever, so that is
        a bug the kubelet should answer with a restart. An API outage is not (readiness shows
        it)."""
        return not any(task.done() for task in self._forever)

    def _leadership(self, leading: bool) -> None:
        LEADER.set(1 if leading else 0)
        if leading:
            self.leading.set()

    async def _reconcile(self, key: Key) -> float | None:
        started = time.monotonic()
        try:
            again = await self.executor.reconcile(key)
        except Exception as error:
            RECONCILES.labels("error").inc()
            log.warning("reconcile %s/%s failed, will retry: %s", *key, error)
            raise
        finally:
            RECONCILE_DURATION.observe(time.monotonic() - started)
        RECONCILES.labels("success" if again is None else "requeue").inc()
        log.debug("%s/%s: reconciled", *key)
        return again


def _stop_now() -> None:
    """A leader without its Lease must not take one more step: exit, and let Kubernetes
    restart the Pod as a follower."""
    logging.shutdown()
    os._exit(1)

"""The HTTP connection pools to the API server, and the typed clients that share them.

Everything that talks to the API server (caches, reconciles, events, the Lease, the webhook's
dry-runs) gets its client from here, so there is one set of credentials and one place that
closes them. There are two pools: HTTP/1.1 has no multiplexing, so each open watch holds a
connection for as long as it lasts. Watches get a pool of their own with no limit (their number
is fixed by the scope: two per namespace, two more with config triggers, one with Kueue), so
however many there are, they never take a connection the Lease, a reconcile or a webhook review
is waiting for.
"""

from __future__ import annotations

from reactivejob_api import AsyncReactiveJobClient, Connection
from reactivejob_api.aio import (
    AsyncConfigMapClient,
    AsyncEventClient,
    AsyncJobClient,
    AsyncLeaseClient,
    AsyncPodClient,
    AsyncSecretClient,
    AsyncWorkloadClient,
)
from typedkube.aio import session_for

# Reconciles run concurrently (16 workers), with the Lease, Events and webhook reviews beside.
_CONNECTIONS = 64


class WatchClients:
    """The clients the caches list and watch with, on the watch pool."""

    def __init__(self, connection: Connection, timeout: float) -> None:
        self.http = session_for(connection, timeout, limit=0)
        self.reactive_jobs = AsyncReactiveJobClient(connection, http=self.http)
        self.jobs = AsyncJobClient(connection, http=self.http)
        self.config_maps = AsyncConfigMapClient(connection, http=self.http)
        self.secrets = AsyncSecretClient(connection, http=self.http)
        self.workloads = AsyncWorkloadClient(connection, http=self.http)


class ApiClients:
    """Made inside the running event loop (an aiohttp session needs one)."""

    def __init__(self, connection: Connection, timeout: float = 30.0) -> None:
        self.http = session_for(connection, timeout, limit=_CONNECTIONS)
        self.reactive_jobs = AsyncReactiveJobClient(connection, http=self.http)
        self.jobs = AsyncJobClient(connection, http=self.http)
        self.events = AsyncEventClient(connection, http=self.http)
        self.leases = AsyncLeaseClient(connection, http=self.http)
        self.pods = AsyncPodClient(connection, http=self.http)  # a failed run's, listed once
        self.watching = WatchClients(connection, timeout)

    async def close(self) -> None:
        await self.http.close()
        await self.watching.http.close()

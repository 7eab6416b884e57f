"""The one HTTP connection pool to the API server, and the typed clients that share it.

Everything that talks to the API server (caches, reconciles, events, the Lease, the webhook's
dry-runs) gets its client from here, so there is one pool, one set of credentials and one place
that closes them.
"""

from __future__ import annotations

from reactivejob_api import AsyncReactiveJobClient, Connection
from reactivejob_api.aio import (
    AsyncConfigMapClient,
    AsyncEventClient,
    AsyncJobClient,
    AsyncLeaseClient,
    AsyncSecretClient,
)
from typedkube.aio import session_for

# Reconciles run concurrently and each watch holds a connection for its lifetime.
_CONNECTIONS = 64


class ApiClients:
    """Made inside the running event loop (an aiohttp session needs one)."""

    def __init__(self, connection: Connection, timeout: float = 30.0) -> None:
        self.http = session_for(connection, timeout, limit=_CONNECTIONS)
        self.reactive_jobs = AsyncReactiveJobClient(connection, http=self.http)
        self.jobs = AsyncJobClient(connection, http=self.http)
        self.events = AsyncEventClient(connection, http=self.http)
        self.leases = AsyncLeaseClient(connection, http=self.http)
        # Used only with config triggers on (the caches of these are made only then).
        self.config_maps = AsyncConfigMapClient(connection, http=self.http)
        self.secrets = AsyncSecretClient(connection, http=self.http)

    async def close(self) -> None:
        await self.http.close()

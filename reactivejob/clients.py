"""The one HTTP connection pool to the API server, and the typed clients that share it.

Everything that talks to the API server (caches, reconciles, events, the Lease, the webhook's
dry-runs) gets its client from here, so there is one pool, one set of credentials and one place
that closes them.
"""

from __future__ import annotations

import httpx

from reactivejob_api import AsyncReactiveJobClient, Connection
from reactivejob_api.aio import AsyncEventClient, AsyncJobClient, AsyncLeaseClient

# Reconciles run concurrently and each watch holds a connection for its lifetime.
_POOL = httpx.Limits(max_connections=64, max_keepalive_connections=32)


class ApiClients:
    def __init__(self, connection: Connection, timeout: float = 30.0) -> None:
        self.http = httpx.AsyncClient(
            base_url=connection.server,
            verify=connection.ssl_context(),
            headers=connection.auth_headers(),
            timeout=timeout,
            limits=_POOL,
        )
        self.reactive_jobs = AsyncReactiveJobClient(connection, http=self.http)
        self.jobs = AsyncJobClient(connection, http=self.http)
        self.events = AsyncEventClient(connection, http=self.http)
        self.leases = AsyncLeaseClient(connection, http=self.http)

    async def close(self) -> None:
        await self.http.aclose()

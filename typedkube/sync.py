"""What the generated sync clients need of httpx: a client for a Connection."""

from __future__ import annotations

from collections.abc import Generator

import httpx

from ._connection import Connection


def client_for(connection: Connection, timeout: float = 30.0) -> httpx.Client:
    """An HTTP client to ``connection``'s API server that authenticates every request."""
    return httpx.Client(
        base_url=connection.server,
        verify=connection.ssl_context(),
        headers=connection.headers,
        auth=_Bearer(connection),
        timeout=timeout,
    )


class _Bearer(httpx.Auth):
    """The token as it is now on each request; after a 401, read again and retry once if it
    changed (a rotated ServiceAccount token, a re-run exec plugin)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._connection.bearer_token()
        if token is None:
            yield request
            return
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401 and self._connection.refresh_token():
            request.headers["Authorization"] = f"Bearer {self._connection.bearer_token()}"
            yield request

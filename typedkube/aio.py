"""What the generated async clients need of aiohttp: a session for a Connection, line splitting.

aiohttp's own readline() refuses lines over its buffer limit (64 KiB), and a watch event of a
ReactiveJob with a large template is one line of hundreds of KB, so lines are split here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp

from ._connection import Connection

# For watches: the server ends them (timeoutSeconds); a client-side limit would cut them short.
UNBOUNDED = aiohttp.ClientTimeout(total=None, sock_read=None)


def session_for(
    connection: Connection, timeout: float = 30.0, limit: int = 100
) -> aiohttp.ClientSession:
    """A session to ``connection``'s API server with its credentials; call in a running loop."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=connection.ssl_context(), limit=limit),
        headers=connection.headers,
        timeout=aiohttp.ClientTimeout(total=timeout),
        middlewares=(_bearer(connection),),
    )


def _bearer(connection: Connection) -> aiohttp.ClientMiddlewareType:
    """Each request carries the token as it is now; a 401 reads it again and, if it changed
    (the kubelet rotated it, the exec plugin re-ran), tries once more, as client-go does."""

    async def middleware(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        token = connection.bearer_token()
        if token is None:
            return await handler(request)
        request.headers["Authorization"] = f"Bearer {token}"
        response = await handler(request)
        if response.status != 401 or not connection.refresh_token():
            return response
        response.release()
        request.headers["Authorization"] = f"Bearer {connection.bearer_token()}"
        return await handler(request)

    return middleware


async def lines_of(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The newline-separated lines of a byte stream, however long each is."""
    pending = b""
    async for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line
    if pending:
        yield pending

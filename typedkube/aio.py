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
        headers=connection.auth_headers(),
        timeout=aiohttp.ClientTimeout(total=timeout),
    )


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

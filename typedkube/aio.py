"""The asynchronous client over aiohttp: a session for a Connection, the verbs of a resource.

aiohttp's own readline() refuses lines over its buffer limit (64 KiB), and a watch event of a
ReactiveJob with a large template is one line of hundreds of KB, so lines are split here.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Self, Unpack

import aiohttp

from . import options
from ._connection import Connection
from ._verbs import Call, L, Raw, RawEvent, T, Verbs
from .wire import Patch, WatchEvent, error_for, watch_event

# TCP keep-alive as Go's net.Dialer sets it for client-go (15 s idle, 15 s apart), but giving
# up after 3 unanswered probes: a peer that vanished is noticed in a minute, not two hours.
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_PROBES = 15, 15, 3


def session_for(
    connection: Connection, timeout: float = 30.0, limit: int = 100
) -> aiohttp.ClientSession:
    """A session to ``connection``'s API server with its credentials; call in a running loop."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(
            ssl=connection.ssl_context(), limit=limit, socket_factory=keepalive_socket
        ),
        headers=connection.headers,
        timeout=aiohttp.ClientTimeout(total=timeout),
        middlewares=(_bearer(connection),),
    )


def keepalive_socket(address: aiohttp.connector.AddrInfoType) -> socket.socket:
    family, kind, protocol, _, _ = address
    made = socket.socket(family=family, type=kind, proto=protocol)
    made.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    made.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, KEEPALIVE_IDLE)
    made.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KEEPALIVE_INTERVAL)
    made.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPALIVE_PROBES)
    return made


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


class AsyncResourceClient(Verbs[T, L, aiohttp.ClientSession]):
    """The verbs of one resource over aiohttp, typed with its generated models: the
    operator's hot path, where aiohttp costs about half httpx's CPU per request."""

    @property
    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = session_for(self.connection, self._timeout)
        return self._session

    async def close(self) -> None:
        if self._owns_http and self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def send(self, call: Call) -> Raw:
        headers = {"Content-Type": call.content_type} if call.body is not None else None
        data = json.dumps(call.body) if call.body is not None else None
        url = self.connection.server + call.path
        async with self._http.request(
            call.method, url, params=call.params, data=data, headers=headers
        ) as answer:
            text = await answer.text()
            if answer.status >= 400:
                raise error_for(answer.status, text, self.connection)
            raw: Raw = json.loads(text)
            return raw

    async def stream(
        self, call: Call, opened: Callable[[], None] | None = None
    ) -> AsyncGenerator[RawEvent, None]:
        """The events of a watch; ``opened`` is called once the server has answered it (a
        quiet, healthy watch may then send nothing for minutes)."""
        url = self.connection.server + call.path
        # Only the whole watch is bounded: a quiet, healthy stream sends nothing for minutes.
        timeout = aiohttp.ClientTimeout(total=call.stream_limit, sock_read=None)
        async with self._http.get(url, params=call.params, timeout=timeout) as answer:
            if answer.status >= 400:
                raise error_for(answer.status, await answer.text(), self.connection)
            if opened is not None:
                opened()
            async for line in lines_of(answer.content.iter_any()):
                if (event := watch_event(line)) is not None:
                    yield event

    async def get(self, name: str, namespace: str) -> T:
        return self._one(await self.get_json(name, namespace))

    async def get_json(self, name: str, namespace: str) -> Raw:
        """The object exactly as the server sent it (for hashing, or fields no model knows)."""
        return await self.send(self._get(name, namespace))

    async def get_status(self, name: str, namespace: str) -> T:
        return self._one(await self.send(self._get(name, namespace, "status")))

    async def list(self, namespace: str | None = None, **kw: Unpack[options.ListOptions]) -> L:
        """Objects in ``namespace``, or in all namespaces when it is None."""
        return self.list_model.model_validate(await self.list_json(namespace, **kw))

    async def list_json(
        self, namespace: str | None = None, **kw: Unpack[options.ListOptions]
    ) -> Raw:
        """One page of the list exactly as the server sent it (caches keep what they need)."""
        return await self.send(self._list(namespace, kw))

    async def watch(
        self, namespace: str | None = None, **kw: Unpack[options.WatchOptions]
    ) -> AsyncIterator[WatchEvent[T]]:
        """Changes from ``resource_version`` on; raises Expired (410) when it is too old."""
        async for kind, raw in self.stream(self._watch(namespace, kw)):
            yield WatchEvent(type=kind, object=self._one(raw))

    def watch_json(
        self,
        namespace: str | None = None,
        *,
        opened: Callable[[], None] | None = None,
        **kw: Unpack[options.WatchOptions],
    ) -> AsyncGenerator[RawEvent, None]:
        """Like ``watch``, but each object exactly as the server sent it; ``opened`` is called
        once the server has answered the request."""
        return self.stream(self._watch(namespace, kw), opened)

    async def create(self, obj: T | Raw, **kw: Unpack[options.CreateOptions]) -> T:
        return self._one(await self.create_json(obj, **kw))

    async def create_json(self, obj: T | Raw, **kw: Unpack[options.CreateOptions]) -> Raw:
        """``create``, answering with the object as the server sent it (no model is built)."""
        return await self.send(self._create(obj, kw))

    async def replace(self, obj: T | Raw, **kw: Unpack[options.WriteOptions]) -> T:
        return self._one(await self.send(self._replace(obj, None, kw)))

    async def replace_status(self, obj: T | Raw, **kw: Unpack[options.WriteOptions]) -> T:
        return self._one(await self.send(self._replace(obj, "status", kw)))

    async def patch(
        self, name: str, namespace: str, patch: Patch, **kw: Unpack[options.PatchOptions]
    ) -> T:
        """A JSON merge patch (a dict) or a JSON patch (a list of operations, type="json")."""
        return self._one(await self.patch_json(name, namespace, patch, **kw))

    async def patch_json(
        self, name: str, namespace: str, patch: Patch, **kw: Unpack[options.PatchOptions]
    ) -> Raw:
        """``patch``, answering with the object as the server sent it (no model is built)."""
        return await self.send(self._patch(name, namespace, patch, None, kw))

    async def patch_status_json(
        self, name: str, namespace: str, patch: Patch, **kw: Unpack[options.PatchOptions]
    ) -> Raw:
        return await self.send(self._patch(name, namespace, patch, "status", kw))

    async def patch_status(
        self, name: str, namespace: str, patch: Patch, **kw: Unpack[options.PatchOptions]
    ) -> T:
        return self._one(await self.patch_status_json(name, namespace, patch, **kw))

    async def apply(
        self, obj: T | Raw, *, field_manager: str, **kw: Unpack[options.ApplyOptions]
    ) -> T:
        return self._one(await self.send(self._apply(obj, field_manager, None, kw)))

    async def apply_status(
        self, obj: T | Raw, *, field_manager: str, **kw: Unpack[options.ApplyOptions]
    ) -> T:
        return self._one(await self.send(self._apply(obj, field_manager, "status", kw)))

    async def delete(self, name: str, namespace: str, **kw: Unpack[options.DeleteOptions]) -> None:
        """With finalizers the object stays (deletionTimestamp set) until they are released."""
        await self.send(self._delete(name, namespace, kw))

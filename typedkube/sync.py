"""The synchronous client over httpx: a client for a Connection, and the verbs of a resource."""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator
from typing import Self, Unpack

import httpx

from . import options
from ._connection import Connection
from ._verbs import Call, L, Raw, RawEvent, T, Verbs
from .wire import Patch, WatchEvent, error_for, watch_event


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


class ResourceClient(Verbs[T, L, httpx.Client]):
    """The verbs of one resource over httpx, typed with its generated models."""

    @property
    def _http(self) -> httpx.Client:
        if self._session is None:
            self._session = client_for(self.connection, self._timeout)
        return self._session

    def close(self) -> None:
        if self._owns_http and self._session is not None:
            self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def send(self, call: Call) -> Raw:
        headers = {"Content-Type": call.content_type} if call.body is not None else None
        content = json.dumps(call.body) if call.body is not None else None
        answer = self._http.request(
            call.method, call.path, params=call.params, content=content, headers=headers
        )
        if answer.status_code >= 400:
            raise error_for(answer.status_code, answer.text, self.connection)
        raw: Raw = answer.json()
        return raw

    def stream(self, call: Call) -> Generator[RawEvent, None, None]:
        with self._http.stream("GET", call.path, params=call.params, timeout=None) as answer:
            if answer.status_code >= 400:
                raise error_for(answer.status_code, answer.read().decode(), self.connection)
            for line in answer.iter_lines():
                if (event := watch_event(line)) is not None:
                    yield event

    def get(self, name: str, namespace: str) -> T:
        return self._one(self.get_json(name, namespace))

    def get_json(self, name: str, namespace: str) -> Raw:
        """The object exactly as the server sent it (for hashing, or fields no model knows)."""
        return self.send(self._get(name, namespace))

    def get_status(self, name: str, namespace: str) -> T:
        return self._one(self.send(self._get(name, namespace, "status")))

    def list(self, namespace: str | None = None, **kw: Unpack[options.ListOptions]) -> L:
        """Objects in ``namespace``, or in all namespaces when it is None."""
        return self.list_model.model_validate(self.list_json(namespace, **kw))

    def list_json(self, namespace: str | None = None, **kw: Unpack[options.ListOptions]) -> Raw:
        """One page of the list exactly as the server sent it (caches keep what they need)."""
        return self.send(self._list(namespace, kw))

    def watch(
        self, namespace: str | None = None, **kw: Unpack[options.WatchOptions]
    ) -> Iterator[WatchEvent[T]]:
        """Changes from ``resource_version`` on; raises Expired (410) when it is too old."""
        for kind, raw in self.stream(self._watch(namespace, kw)):
            yield WatchEvent(type=kind, object=self._one(raw))

    def watch_json(
        self, namespace: str | None = None, **kw: Unpack[options.WatchOptions]
    ) -> Generator[RawEvent, None, None]:
        """Like ``watch``, but each object exactly as the server sent it."""
        return self.stream(self._watch(namespace, kw))

    def create(self, obj: T | Raw, **kw: Unpack[options.CreateOptions]) -> T:
        return self._one(self.create_json(obj, **kw))

    def create_json(self, obj: T | Raw, **kw: Unpack[options.CreateOptions]) -> Raw:
        """``create``, answering with the object as the server sent it (no model is built)."""
        return self.send(self._create(obj, kw))

    def replace(self, obj: T | Raw, **kw: Unpack[options.WriteOptions]) -> T:
        return self._one(self.send(self._replace(obj, None, kw)))

    def replace_status(self, obj: T | Raw, **kw: Unpack[options.WriteOptions]) -> T:
        return self._one(self.send(self._replace(obj, "status", kw)))

    def patch(
        self, name: str, namespace: str, patch: Patch, **kw: Unpack[options.PatchOptions]
    ) -> T:
        """A JSON merge patch (a dict) or a JSON patch (a list of operations, type="json")."""
        return self._one(self.patch_json(name, namespace, patch, **kw))

    def patch_json(
        self, name: str, namespace: str, patch: Patch, **kw: Unpack[options.PatchOptions]
    ) -> Raw:
        """``patch``, answering with the object as the server sent it (no model is built)."""
        return self.send(self._patch(name, namespace, patch, None, kw))

    def patch_status_json(
        self, name: str, namespace: str, patch: Patch, **kw: Unpack[options.PatchOptions]
    ) -> Raw:
        return self.send(self._patch(name, namespace, patch, "status", kw))

    def patch_status(
        self, name: str, namespace: str, patch: Patch, **kw: Unpack[options.PatchOptions]
    ) -> T:
        return self._one(self.patch_status_json(name, namespace, patch, **kw))

    def apply(self, obj: T | Raw, *, field_manager: str, **kw: Unpack[options.ApplyOptions]) -> T:
        return self._one(self.send(self._apply(obj, field_manager, None, kw)))

    def apply_status(
        self, obj: T | Raw, *, field_manager: str, **kw: Unpack[options.ApplyOptions]
    ) -> T:
        return self._one(self.send(self._apply(obj, field_manager, "status", kw)))

    def delete(self, name: str, namespace: str, **kw: Unpack[options.DeleteOptions]) -> None:
        """With finalizers the object stays (deletionTimestamp set) until they are released."""
        self.send(self._delete(name, namespace, kw))

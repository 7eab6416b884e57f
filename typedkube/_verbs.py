"""The Kubernetes verbs of one resource, written once and without I/O.

Each verb is a ``Call``, the request; the sync client (``typedkube.sync``) and the async one
(``typedkube.aio``) only send Calls, each in its own way, and build the model from the JSON
answer, so the two flavours cannot drift apart. A resource is data: its group, version, plural,
kind and models are class attributes that the generated per-resource classes set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from . import options
from ._connection import Connection
from .wire import CONTENT_TYPES, EventType, Patch, body_of, name_and_namespace, query

T = TypeVar("T", bound=BaseModel)
L = TypeVar("L", bound=BaseModel)
H = TypeVar("H")  # the HTTP client: httpx.Client, or aiohttp.ClientSession
Raw = dict[str, Any]
RawEvent = tuple[EventType, Raw]


@dataclass(frozen=True)
class Call:
    """One request; its answer is JSON (or, for a watch, a stream of JSON lines)."""

    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    body: Any = None  # sent as JSON
    content_type: str = "application/json"

    @property
    def stream_limit(self) -> float | None:
        """How long a watch may take on our side. The server ends it after ``timeoutSeconds``;
        one that outlives that by a margin is on a connection that died in silence (a NAT or
        load balancer dropped it), and would otherwise hang, and its cache go stale, forever."""
        seconds = self.params.get("timeoutSeconds")
        return None if seconds is None else float(seconds) * 1.1 + 5.0


class Verbs(Generic[T, L, H]):
    """The calls of every verb, for the resource the class attributes name, and the HTTP
    client ``H`` they are sent with: given (shared, and closed by whoever made it), or made
    on first use (a session needs a running loop) and closed with this client."""

    group: str
    version: str
    plural: str
    kind: str
    api_version: str
    model: type[T]
    list_model: type[L]

    def __init__(
        self, connection: Connection | None = None, *, timeout: float = 30.0, http: H | None = None
    ) -> None:
        self.connection = connection or Connection.auto()
        self._timeout = timeout
        self._owns_http = http is None
        self._session = http

    def path(
        self, namespace: str | None, name: str | None = None, subresource: str | None = None
    ) -> str:
        path = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        path += f"/namespaces/{namespace}" if namespace else ""
        path += f"/{self.plural}"
        path += f"/{name}" if name else ""
        return path + (f"/{subresource}" if subresource else "")

    def _one(self, answer: Any) -> T:
        return self.model.model_validate(answer)

    def _get(self, name: str, namespace: str, subresource: str | None = None) -> Call:
        return Call("GET", self.path(namespace, name, subresource))

    def _list(self, namespace: str | None, kw: options.ListOptions) -> Call:
        return Call("GET", self.path(namespace), query(**kw))

    def _watch(self, namespace: str | None, kw: options.WatchOptions) -> Call:
        """A stream: each line of its answer is one event (``wire.watch_event``)."""
        return Call("GET", self.path(namespace), query(watch=True, **kw))

    def _create(self, obj: T | Raw, kw: options.CreateOptions) -> Call:
        body = body_of(obj)
        _, namespace = name_and_namespace(body, kw.get("namespace"))
        params = query(dry_run=kw.get("dry_run"), field_manager=kw.get("field_manager"))
        return Call("POST", self.path(namespace), params, body)

    def _replace(self, obj: T | Raw, subresource: str | None, kw: options.WriteOptions) -> Call:
        """PUT the whole object; metadata.resourceVersion guards against lost updates (409)."""
        body = body_of(obj)
        name, namespace = name_and_namespace(body, kw.get("namespace"))
        if not name:
            raise ValueError("replace needs metadata.name")
        path = self.path(namespace, name, subresource)
        return Call("PUT", path, query(field_manager=kw.get("field_manager")), body)

    def _patch(
        self,
        name: str,
        namespace: str,
        patch: Patch,
        subresource: str | None,
        kw: options.PatchOptions,
    ) -> Call:
        kind = kw.get("type", "merge")
        if kind not in ("merge", "json"):
            raise ValueError(f"patch type must be 'merge' or 'json', not {kind!r}")
        path = self.path(namespace, name, subresource)
        params = query(field_manager=kw.get("field_manager"))
        return Call("PATCH", path, params, patch, CONTENT_TYPES[kind])

    def _apply(
        self, obj: T | Raw, field_manager: str, subresource: str | None, kw: options.ApplyOptions
    ) -> Call:
        """Server-side apply: the fields in ``obj`` become owned by ``field_manager``. JSON is
        YAML, so the body goes as JSON under the apply-patch content type."""
        body = {"apiVersion": self.api_version, "kind": self.kind, **body_of(obj)}
        name, namespace = name_and_namespace(body, kw.get("namespace"))
        if not name:
            raise ValueError("apply needs metadata.name")
        params = query(field_manager=field_manager, force=kw.get("force", False))
        path = self.path(namespace, name, subresource)
        return Call("PATCH", path, params, body, CONTENT_TYPES["apply"])

    def _delete(self, name: str, namespace: str, kw: options.DeleteOptions) -> Call:
        return Call("DELETE", self.path(namespace, name), query(**kw))

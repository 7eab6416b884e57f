"""The informer on a fake list and watch: paged lists, events applied in order, and a relist
after 410 that reports what vanished meanwhile, so no ghost stays in the store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

from reactivejob.engine.informer import Informer
from reactivejob_api import Expired
from typedkube import EventType
from typedkube.aio import AsyncResourceClient

TIMEOUT = 10.0


def obj(name: str, version: str, value: str = "v") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": version}, "v": value}


class FakeServer:
    """A client's list and watch: pages of a list, and per watch call a script of events; a
    script may end with Expired."""

    kind = "Thing"

    def __init__(self, lists: list[list[list[dict[str, Any]]]], watches: list[list[Any]]) -> None:
        self.lists, self.watches = lists, watches
        self.listed_from: list[str | None] = []
        self.watched_from: list[str] = []
        self.idle = asyncio.Event()

    async def list_json(self, _: str | None, *, continue_: str | None, **__: Any) -> dict[str, Any]:
        token = continue_
        if token is None:
            self.current = self.lists.pop(0)
        index = int(token or 0)
        self.listed_from.append(token)
        more = index + 1 < len(self.current)
        meta = {"resourceVersion": "100", **({"continue": str(index + 1)} if more else {})}
        return {"items": self.current[index], "metadata": meta}

    async def watch_json(
        self,
        _: str | None,
        *,
        resource_version: str,
        opened: Callable[[], None] | None = None,
        **__: Any,
    ) -> AsyncIterator[tuple[EventType, dict[str, Any]]]:
        self.watched_from.append(resource_version)
        if opened is not None:
            opened()
        if not self.watches:
            self.idle.set()
            await asyncio.Event().wait()  # a quiet, healthy stream
        for step in self.watches.pop(0):
            if step == "expired":
                raise Expired(410, "Expired", "too old resource version")
            yield step


Seen = list[tuple[str, str | None, str | None]]  # name, old value, new value


def run(server: FakeServer, seen: Seen) -> Informer[str]:
    """An informer of ``server``'s things (each stored as its "v"), run until its watch idles."""
    informer: Informer[str] = Informer(
        cast(AsyncResourceClient[Any, Any], server),
        "ns",
        lambda raw, _old: str(raw["v"]),
        lambda key, old, new: seen.append((key[1], old, new)),
    )

    async def scenario() -> None:
        task = asyncio.create_task(informer.run())
        await asyncio.wait_for(server.idle.wait(), TIMEOUT)
        task.cancel()

    asyncio.run(scenario())
    return informer


def test_a_paged_list_then_a_watch_from_its_version_keeps_the_store_current() -> None:
    seen: Seen = []
    server = FakeServer(
        lists=[[[obj("a", "1"), obj("b", "2")], [obj("c", "3")]]],
        watches=[
            [
                ("MODIFIED", obj("a", "101", "changed")),
                ("BOOKMARK", {"metadata": {"resourceVersion": "105"}}),
                ("DELETED", obj("b", "106")),
            ]
        ],
    )
    informer = run(server, seen)
    assert server.listed_from == [None, "1"]  # two pages, one snapshot
    assert informer.synced.is_set()
    assert server.watched_from == ["100", "106"]  # resumed from the last event, bookmark too
    assert informer.store == {("ns", "a"): "changed", ("ns", "c"): "v"}
    assert seen == [
        ("a", None, "v"), ("b", None, "v"), ("c", None, "v"),
        ("a", "v", "changed"), ("b", "v", None),
    ]  # fmt: skip


def test_a_relist_after_410_reports_what_vanished_and_only_what_changed() -> None:
    seen: Seen = []
    server = FakeServer(
        lists=[
            [[obj("a", "1"), obj("b", "2"), obj("c", "3")]],
            [[obj("a", "1"), obj("c", "7", "new")]],  # b deleted while we were away
        ],
        watches=[["expired"]],
    )
    informer = run(server, seen)
    assert informer.store == {("ns", "a"): "v", ("ns", "c"): "new"}  # no ghost of b
    assert seen[3:] == [("b", "v", None), ("c", "v", "new")]  # a unchanged: not reported


class ExpiringPages(FakeServer):
    """A big list whose continue token has always expired by the time page two is asked for
    (the list took longer than etcd's compaction interval)."""

    def __init__(self) -> None:
        super().__init__([], [])
        self.calls = 0

    async def list_json(self, _: str | None, *, continue_: str | None, **__: Any) -> dict[str, Any]:
        self.calls += 1
        await asyncio.sleep(0)  # a real call yields to the loop
        if continue_ is not None:
            raise Expired(410, "Expired", "the continue token has expired")
        return {"items": [obj("a", "1")], "metadata": {"resourceVersion": "1", "continue": "1"}}


def test_a_list_whose_continue_token_expires_is_retried_with_backoff() -> None:
    server = ExpiringPages()
    informer: Informer[str] = Informer(
        cast(AsyncResourceClient[Any, Any], server), "ns", lambda raw, _old: "", lambda *_: None
    )

    async def scenario() -> None:
        task = asyncio.create_task(informer.run())
        await asyncio.sleep(1.0)
        task.cancel()

    asyncio.run(scenario())
    # Backing off from 0.2 s and doubling: a handful of tries in a second, not thousands of
    # lists of every Secret in the namespace.
    assert 2 <= server.calls <= 10, server.calls
    assert not informer.synced.is_set()

"""Health, readiness and metrics endpoints (aiohttp, which kopf already brings).

/healthz answers while the event loop runs (liveness); /readyz only once kopf has started its
watches and the API server answered a list of ReactiveJobs recently (so a replica that lost
its API connection or its RBAC drops out of the webhook Service); /metrics is Prometheus.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import aiohttp.web

from .metrics import exposition

Check = Callable[[], Awaitable[bool]]
READY_CACHE_SECONDS = 5.0


def parse_address(address: str) -> tuple[str, int] | None:
    """``:8081`` -> all interfaces; ``127.0.0.1:8081``; ``0`` -> disabled (None)."""
    if address in ("0", ""):
        return None
    host, _, port = address.rpartition(":")
    return (host or "0.0.0.0", int(port))


class ProbeServers:
    def __init__(self) -> None:
        self._runners: list[aiohttp.web.AppRunner] = []

    async def start(
        self, health: tuple[str, int] | None, metrics: tuple[str, int] | None, ready: Check
    ) -> None:
        if health is not None:
            cached = _Cached(ready)
            app = aiohttp.web.Application()
            app.add_routes(
                [
                    aiohttp.web.get("/healthz", lambda _: _text(200, "ok")),
                    aiohttp.web.get("/readyz", lambda _: _ready(cached)),
                ]
            )
            await self._serve(app, health)
        if metrics is not None:
            app = aiohttp.web.Application()
            app.add_routes([aiohttp.web.get("/metrics", _metrics)])
            await self._serve(app, metrics)

    async def _serve(self, app: aiohttp.web.Application, where: tuple[str, int]) -> None:
        runner = aiohttp.web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        await aiohttp.web.TCPSite(runner, where[0], where[1]).start()
        self._runners.append(runner)

    async def stop(self) -> None:
        await asyncio.gather(*(runner.cleanup() for runner in self._runners))


class _Cached:
    """Probes come every few seconds from each kubelet; ask the API server at most every 5 s."""

    def __init__(self, check: Check) -> None:
        self._check = check
        self._when = 0.0
        self._answer = False

    async def __call__(self) -> bool:
        if time.monotonic() - self._when >= READY_CACHE_SECONDS:
            self._answer = await self._check()
            self._when = time.monotonic()
        return self._answer


async def _text(status: int, body: str) -> aiohttp.web.Response:
    return aiohttp.web.Response(status=status, text=body + "\n")


async def _ready(check: _Cached) -> aiohttp.web.Response:
    return await (_text(200, "ready") if await check() else _text(503, "not ready"))


async def _metrics(_: aiohttp.web.Request) -> aiohttp.web.Response:
    return aiohttp.web.Response(body=exposition(), content_type="text/plain", charset="utf-8")

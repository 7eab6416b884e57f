"""Health, readiness and metrics endpoints (aiohttp, which kopf already brings).

/healthz fails only when a cache loop has ended (it retries forever, so only a bug ends it):
never during an API server outage, which a restart would not cure. /readyz answers only while
every cache has listed and is watching (so a replica that lost the API server drops out of the
webhook Service until its watches run again); /metrics is Prometheus.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp.web

from reactivejob.engine.metrics import exposition

Check = Callable[[], bool]


def parse_address(address: str) -> tuple[str | None, int] | None:
    """Go's listen addresses: ``:8081`` -> every interface, IPv6 and IPv4 (None as host);
    ``127.0.0.1:8081``, ``[::1]:8081``; ``0`` -> disabled (None)."""
    if address in ("0", ""):
        return None
    host, _, port = address.rpartition(":")
    return (bind_host(host), int(port))


def bind_host(host: str) -> str | None:
    """None for every interface of every address family: an IPv6-only cluster probes over
    IPv6, and ``0.0.0.0`` (IPv4 only) would fail its liveness probe forever."""
    host = host.strip("[]")
    return None if host in ("", "0.0.0.0", "::") else host


class ProbeServers:
    def __init__(self) -> None:
        self._runners: list[aiohttp.web.AppRunner] = []

    async def start(
        self,
        health: tuple[str | None, int] | None,
        metrics: tuple[str | None, int] | None,
        ready: Check,
        healthy: Check,
    ) -> None:
        if health is not None:
            app = aiohttp.web.Application()
            app.add_routes(
                [
                    aiohttp.web.get("/healthz", lambda _: _answer(healthy, "ok", "unhealthy")),
                    aiohttp.web.get("/readyz", lambda _: _answer(ready, "ready", "not ready")),
                ]
            )
            await self._serve(app, health)
        if metrics is not None:
            app = aiohttp.web.Application()
            app.add_routes([aiohttp.web.get("/metrics", _metrics)])
            await self._serve(app, metrics)

    async def _serve(self, app: aiohttp.web.Application, where: tuple[str | None, int]) -> None:
        runner = aiohttp.web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        await aiohttp.web.TCPSite(runner, where[0], where[1]).start()
        self._runners.append(runner)

    async def stop(self) -> None:
        await asyncio.gather(*(runner.cleanup() for runner in self._runners))


async def _text(status: int, body: str) -> aiohttp.web.Response:
    return aiohttp.web.Response(status=status, text=body + "\n")


async def _answer(check: Check, yes: str, no: str) -> aiohttp.web.Response:
    return await (_text(200, yes) if check() else _text(503, no))


async def _metrics(_: aiohttp.web.Request) -> aiohttp.web.Response:
    return aiohttp.web.Response(body=exposition(), content_type="text/plain", charset="utf-8")

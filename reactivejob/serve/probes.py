"""Health, readiness and metrics endpoints (aiohttp, which kopf already brings).

/healthz fails only when a cache loop has ended (it retries forever, so only a bug ends it):
never during an API server outage, which a restart would not cure. /readyz answers only while
every cache has listed and is watching (so a replica that lost the API server drops out of the
webhook Service until its watches run again); /metrics is Prometheus.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp.web

from reactivejob.engine.access_review import Verdict
from reactivejob.engine.metrics import exposition

from .tls import ReloadingCertificate

log = logging.getLogger(__name__)

Check = Callable[[], bool]
# The Authorization header and the path: who asks, and may they.
Review = Callable[[str | None, str], Awaitable[Verdict]]


@dataclass(frozen=True)
class SecureMetrics:
    """/metrics over HTTPS, to callers the API server vouches for (``AccessReviews``)."""

    certificate: ReloadingCertificate
    review: Review


def parse_address(address: str) -> tuple[str | None, int] | None:
    """Go's listen addresses: ``:8081`` -> every interface, IPv6 and IPv4 (None as host);
    ``127.0.0.1:8081``, ``[::1]:8081``; ``0`` -> disabled (None)."""
    if address in ("0", ""):
        return None
    host, _, port = address.rpartition(":")
    return (bind_host(host), int(port))


def bind_host(host: str) -> str | None:
    """None for every interface of every address family: an IPv6-only cluster probes over
    IPv6, and an IPv4-only listener would fail its liveness probe forever. ``0.0.0.0`` reads
    as every interface too (unlike Go, where it is IPv4 only): earlier charts passed it to
    mean that."""
    host = host.strip("[]")
    return None if host in ("", "0.0.0.0", "::") else host


class ProbeServers:
    def __init__(self) -> None:
        self._runners: list[aiohttp.web.AppRunner] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def start(
        self,
        health: tuple[str | None, int] | None,
        metrics: tuple[str | None, int] | None,
        ready: Check,
        healthy: Check,
        secure: SecureMetrics | None = None,
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
            handler = _metrics if secure is None else _guarded(secure.review)
            app.add_routes([aiohttp.web.get("/metrics", handler)])
            if secure is None:
                await self._serve(app, metrics)
            else:
                await self._serve(app, metrics, secure.certificate)
                self._tasks.append(asyncio.create_task(secure.certificate.follow()))

    async def _serve(
        self,
        app: aiohttp.web.Application,
        where: tuple[str | None, int],
        certificate: ReloadingCertificate | None = None,
    ) -> None:
        runner = aiohttp.web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        context = certificate.context if certificate is not None else None
        await aiohttp.web.TCPSite(runner, where[0], where[1], ssl_context=context).start()
        self._runners.append(runner)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*(runner.cleanup() for runner in self._runners))


async def _text(status: int, body: str) -> aiohttp.web.Response:
    return aiohttp.web.Response(status=status, text=body + "\n")


async def _answer(check: Check, yes: str, no: str) -> aiohttp.web.Response:
    return await (_text(200, yes) if check() else _text(503, no))


async def _metrics(_: aiohttp.web.Request) -> aiohttp.web.Response:
    return aiohttp.web.Response(body=exposition(), content_type="text/plain", charset="utf-8")


def _guarded(review: Review) -> Callable[[aiohttp.web.Request], Awaitable[aiohttp.web.Response]]:
    async def metrics(request: aiohttp.web.Request) -> aiohttp.web.Response:
        try:
            verdict = await review(request.headers.get("Authorization"), request.path)
        except (aiohttp.ClientError, TimeoutError) as error:
            log.warning("could not review a /metrics request: %s", error or type(error).__name__)
            return await _text(503, "the API server could not review this request")
        if verdict.status != 200:
            log.info("refused /metrics: %s", verdict.reason)
            return await _text(verdict.status, verdict.reason)
        return await _metrics(request)

    return metrics

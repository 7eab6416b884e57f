"""The HTTPS server kopf hands admission reviews to, sized for ReactiveJobs.

kopf's own WebhookServer accepts request bodies up to aiohttp's default 1 MiB; an UPDATE of a
600 KB ReactiveJob sends the object twice (object and oldObject) and was answered 413, which a
failurePolicy of Fail turns into a refused write, even of the operator's own finalizer. This
server accepts what the API server can send, and reloads its certificate in place when the
files change (new TLS handshakes use the new one; the listener never restarts).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp.web
import kopf

log = logging.getLogger(__name__)

# The API server takes requests up to 3 MiB; a review carries object and oldObject.
MAX_REVIEW_BYTES = 8 * 1024 * 1024


class ReloadingWebhookServer:
    def __init__(
        self, cert_dir: Path, *, addr: str, port: int, reload_interval: float = 10.0
    ) -> None:
        self.certfile = cert_dir / "tls.crt"
        self.keyfile = cert_dir / "tls.key"
        self.addr = addr
        self.port = port
        self.reload_interval = reload_interval

    async def __call__(self, fn: Any) -> AsyncIterator[kopf.WebhookClientConfig]:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        stamp = self._load(context)
        app = aiohttp.web.Application(client_max_size=MAX_REVIEW_BYTES)

        async def serve(request: aiohttp.web.Request) -> aiohttp.web.Response:
            try:
                review = json.loads(await request.text())
            except json.JSONDecodeError as error:
                raise aiohttp.web.HTTPBadRequest(reason=str(error)) from error
            response = await fn(
                review, webhook=request.match_info["id"], headers=dict(request.headers), sslpeer={}
            )
            return aiohttp.web.json_response(response)

        app.add_routes([aiohttp.web.post("/{id}", serve)])
        runner = aiohttp.web.AppRunner(app, handle_signals=False)
        await runner.setup()
        try:
            site = aiohttp.web.TCPSite(runner, self.addr, self.port, ssl_context=context)
            await site.start()
            log.info("serving admission webhooks at https://%s:%d/", self.addr, self.port)
            yield kopf.WebhookClientConfig(url=f"https://{self.addr}:{self.port}/")
            while True:
                await asyncio.sleep(self.reload_interval)
                current = self._stamp()
                if current != stamp:
                    stamp = self._load(context)
                    log.info("reloaded the webhook certificate from %s", self.certfile)
        finally:
            await runner.cleanup()

    def _stamp(self) -> tuple[float, float]:
        return (self.certfile.stat().st_mtime, self.keyfile.stat().st_mtime)

    def _load(self, context: ssl.SSLContext) -> tuple[float, float]:
        stamp = self._stamp()
        context.load_cert_chain(str(self.certfile), str(self.keyfile))
        return stamp

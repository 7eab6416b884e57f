"""The HTTPS server kopf hands admission reviews to, sized for ReactiveJobs.

kopf's own WebhookServer accepts request bodies up to aiohttp's default 1 MiB; an UPDATE of a
600 KB ReactiveJob sends the object twice (object and oldObject) and was answered 413, which a
failurePolicy of Fail turns into a refused write, even of the operator's own finalizer. This
server accepts what the API server can send and no more, a few reviews at a time, and only
reviews the API server could have sent for our registration; it reloads its certificate in
place when the files change (new TLS handshakes use the new one; the listener never restarts).

Anyone who can reach the port can still send a well-formed review: the chart's NetworkPolicy
(or the cluster's) is what keeps others out; these checks keep what they can do small.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp.web
import kopf

from reactivejob_api import GROUP, KIND, PLURAL, VERSION

from .probes import bind_host
from .tls import ReloadingCertificate

log = logging.getLogger(__name__)

# etcd stores objects up to 1.5 MiB; a review of an UPDATE carries object and oldObject.
MAX_REVIEW_BYTES = 3 * 1024 * 1024 + 256 * 1024
# Each review holds its body and makes a dry-run call: a burst waits its turn, bounded.
MAX_CONCURRENT_REVIEWS = 4
REVIEWED = {"group": GROUP, "version": VERSION, "kind": KIND}


def review_problem(review: Any) -> str | None:
    """Why ``review`` is not one the API server sends for our registration, else None."""
    if not isinstance(review, dict) or review.get("kind") != "AdmissionReview":
        return "not an AdmissionReview"
    if review.get("apiVersion") != "admission.k8s.io/v1":
        return "only admission.k8s.io/v1 reviews are served"
    request = review.get("request")
    if not isinstance(request, dict) or not request.get("uid"):
        return "request.uid is missing"
    if request.get("kind") != REVIEWED or (request.get("resource") or {}).get("resource") != PLURAL:
        return f"only {KIND} objects ({GROUP}/{VERSION}) are reviewed here"
    if request.get("operation") not in ("CREATE", "UPDATE"):
        return "only CREATE and UPDATE are reviewed here"
    obj = request.get("object")
    if not isinstance(obj, dict) or not request.get("namespace"):
        return "request.object and request.namespace are required"
    claimed = (obj.get("metadata") or {}).get("namespace") or request["namespace"]
    if claimed != request["namespace"]:
        return "request.object is not in request.namespace"
    return None


class ReloadingWebhookServer:
    def __init__(
        self, cert_dir: Path, *, addr: str, port: int, reload_interval: float = 10.0
    ) -> None:
        self.cert_dir = cert_dir
        self.addr = addr
        self.port = port
        self.reload_interval = reload_interval

    async def __call__(self, fn: Any) -> AsyncIterator[kopf.WebhookClientConfig]:
        certificate = ReloadingCertificate(self.cert_dir, self.reload_interval)
        app = aiohttp.web.Application(client_max_size=MAX_REVIEW_BYTES)
        slots = asyncio.Semaphore(MAX_CONCURRENT_REVIEWS)

        async def serve(request: aiohttp.web.Request) -> aiohttp.web.Response:
            async with slots:  # the body is read inside: memory is bounded too
                try:
                    review = json.loads(await request.text())
                except json.JSONDecodeError as error:
                    raise aiohttp.web.HTTPBadRequest(reason=str(error)) from error
                problem = review_problem(review)
                if problem is not None:
                    log.warning("refused a request to the webhook: %s", problem)
                    raise aiohttp.web.HTTPBadRequest(reason=problem)
                response = await fn(
                    review,
                    webhook=request.match_info["id"],
                    headers=dict(request.headers),
                    sslpeer={},
                )
                return aiohttp.web.json_response(response)

        app.add_routes([aiohttp.web.post("/{id}", serve)])
        runner = aiohttp.web.AppRunner(app, handle_signals=False)
        await runner.setup()
        try:
            site = aiohttp.web.TCPSite(
                runner, bind_host(self.addr), self.port, ssl_context=certificate.context
            )
            await site.start()
            log.info("serving admission webhooks at https://%s:%d/", self.addr, self.port)
            yield kopf.WebhookClientConfig(url=f"https://{self.addr}:{self.port}/")
            await certificate.follow()
        finally:
            await runner.cleanup()

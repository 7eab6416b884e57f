"""The thin kopf layer: process lifecycle, login, signals and admission routing.

kopf watches nothing here: the engine's caches do, on the operator's own HTTP pool, and
reconciles read only them. kopf's startup handler starts the engine's ``Manager`` and the
probe servers that ask it, its cleanup handler stops them, it serves the validating webhook,
and it turns SIGTERM into a clean stop.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import kopf

from reactivejob.engine.access_review import AccessReviews
from reactivejob.engine.informer import BACKOFF_CAP, BACKOFF_START
from reactivejob.engine.manager import Manager, Options
from reactivejob_api import GROUP, PLURAL, VERSION, Connection
from typedkube.aio import session_for

from .admission import WEBHOOK_ID, check
from .probes import ProbeServers, SecureMetrics
from .tls import ReloadingCertificate
from .webhook_server import ReloadingWebhookServer

log = logging.getLogger("reactivejob")

# kopf's own finalizer must never equal the one protecting our Jobs
# (batch.cs.sap.com/reactivejob-operator): kopf strips its finalizer from watched objects no
# handler needs it on. With event handlers only, kopf never places this one at all.
KOPF_FINALIZER = "kopf.reactivejob.batch.cs.sap.com/finalizer"
KOPF_ANNOTATIONS_PREFIX = "kopf.reactivejob.batch.cs.sap.com"


@dataclass(frozen=True)
class WebhookOptions:
    cert_dir: Path  # tls.crt and tls.key, re-read when they change (cert-manager rotation)
    port: int = 9443
    bind_address: str = ""  # every interface, IPv6 and IPv4
    reload_interval: float = 10.0


@dataclass(frozen=True)
class ServeOptions:
    manager: Options
    webhook: WebhookOptions | None = None
    health_address: tuple[str | None, int] | None = None  # None host: every interface
    metrics_address: tuple[str | None, int] | None = None
    # /metrics over HTTPS with this folder's tls.crt and tls.key, to callers allowed to get it.
    metrics_cert_dir: Path | None = None


class Process:
    """What kopf's handlers reach: the engine's manager, once started, and the probe servers."""

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self.kopf_ready = threading.Event()  # set by kopf once its own start-up is done
        self.manager: Manager | None = None  # from kopf's startup handler to its cleanup
        self.probes = ProbeServers()

    async def start(self) -> None:
        self.manager = manager = await Manager.start(self.options.manager)
        options = self.options
        secure = None
        if options.metrics_cert_dir is not None:
            reviews = AccessReviews(manager.clients.http, options.manager.connection)
            secure = SecureMetrics(ReloadingCertificate(options.metrics_cert_dir), reviews.review)
        await self.probes.start(
            options.health_address,
            options.metrics_address,
            ready=lambda: self.kopf_ready.is_set() and manager.ready(),
            healthy=manager.healthy,
            secure=secure,
        )

    async def stop(self) -> None:
        if self.manager is not None:
            await self.manager.stop()
        await self.probes.stop()


def configure(settings: kopf.OperatorSettings, webhook: WebhookOptions | None = None) -> None:
    # Only @kopf.on.event handlers are registered, which store no progress and no diff-base:
    # these storages are set so that, were a state handler ever added, kopf's bookkeeping
    # would land under our own prefix, not kopf.zalando.org.
    settings.persistence.finalizer = KOPF_FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=KOPF_ANNOTATIONS_PREFIX
    )
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=KOPF_ANNOTATIONS_PREFIX, key="last-handled-configuration"
    )
    # No resource handlers, so kopf needs no view of the cluster's resources.
    settings.scanning.disabled = True
    # Peering is not leader election (equal priorities all pause); we run standalone.
    settings.peering.standalone = True
    # Never turn log lines into Kubernetes Events: ours (JobCreated...) are posted by
    # reactivejob.events, because kopf's posting works only inside per-object handlers.
    settings.posting.loggers = False
    settings.posting.reporting_component = "reactivejob-operator"
    if webhook is not None:
        settings.admission.server = ReloadingWebhookServer(
            webhook.cert_dir,
            addr=webhook.bind_address,
            port=webhook.port,
            reload_interval=webhook.reload_interval,
        )
        # The ValidatingWebhookConfiguration is installed by the chart (or the tests), with
        # the failurePolicy it documents; the operator must not need rights to rewrite it.
        settings.admission.managed = None


async def until_accepted(connection: Connection) -> None:
    """Return once the API server accepts our credentials (answers anything but 401).

    kopf reads the API's discovery documents at start; refused there, it asks the login
    handler again, and given the same credentials it ends the process. A Pod with a revoked or
    not yet valid token must instead stay up, unready, and retry with backoff, as during an
    outage: our caches say whose credentials were refused, while kopf waits here.
    """
    backoff = BACKOFF_START
    async with session_for(connection, timeout=10) as http:
        while True:
            try:
                async with http.get(connection.server + "/api") as response:
                    if response.status != 401:
                        return
            except (aiohttp.ClientError, OSError) as error:
                log.debug("waiting for the API server before handing kopf credentials: %s", error)
            await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
            backoff = min(backoff * 2, BACKOFF_CAP)


def build_registry(process: Process) -> kopf.OperatorRegistry:
    """Handlers reach the process through this closure, typed, not through kopf's ``memo``."""
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    async def login(**_: Any) -> kopf.ConnectionInfo:
        connection: Connection = process.options.manager.connection
        await until_accepted(connection)
        return kopf.ConnectionInfo(
            server=connection.server,
            ca_path=connection.ca_file,
            insecure=not connection.verify,
            certificate_path=connection.cert_file,
            private_key_path=connection.key_file,
            # Read now, not at start: kopf calls this again after a 401, and a Pod's token
            # rotates. (kopf itself makes no API calls here: no resource handlers, no peering.)
            token=(token := connection.bearer_token()),
            scheme="Bearer" if token else None,
        )

    @kopf.on.startup(registry=registry)
    async def startup(**_: Any) -> None:
        await process.start()

    @kopf.on.cleanup(registry=registry)
    async def cleanup(**_: Any) -> None:
        await process.stop()

    if process.options.webhook is not None:

        @kopf.on.validate(
            GROUP, VERSION, PLURAL, id=WEBHOOK_ID, operations=["CREATE", "UPDATE"],
            registry=registry,
        )  # fmt: skip
        async def validate(body: kopf.Body, **kwargs: Any) -> None:
            assert process.manager is not None, "kopf serves admission after its startup"
            served = process.options.manager.namespaces
            if served and body.metadata.namespace not in served:
                return  # not ours: admitted as it is, and no dry-run on anyone's behalf
            old = kwargs.get("old")  # passed by kopf for UPDATE, not in its type protocol
            await check(dict(body), dict(old) if old else None, process.manager.clients.jobs)

    return registry

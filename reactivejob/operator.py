"""The thin kopf layer: watches, settings, lifecycle; the decisions live in ``reconcile``.

kopf is used for what it does well (watch streams with server-side selectors, per-object event
ordering, login, routing admission reviews to handlers), but only through
``@kopf.on.event`` handlers: they keep no handler progress and no diff-base copy of the spec in
annotations, so a 400 KB template stays a 400 KB object. Every event just queues the object's
key; workers reconcile level-triggered from what the server has now, with retries and backoff
(kopf never retries an event handler).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import kopf

from reactivejob_api import GROUP, PLURAL, VERSION, Connection

from .admission import WEBHOOK_ID, check
from .controller import Controller
from .naming import LABEL_CONTROLLER_NAME
from .runtime import Runtime, WebhookOptions
from .webhook_server import ReloadingWebhookServer

log = logging.getLogger("reactivejob")

# kopf's own finalizer must never equal the one protecting our Jobs
# (batch.cs.sap.com/reactivejob-operator): kopf strips its finalizer from watched objects no
# handler needs it on. With event handlers only, kopf never places this one at all.
KOPF_FINALIZER = "kopf.reactivejob.batch.cs.sap.com/finalizer"
KOPF_ANNOTATIONS_PREFIX = "kopf.reactivejob.batch.cs.sap.com"


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
    # Only the Jobs we made, filtered by the API server: unrelated Jobs cost nothing.
    settings.watching.label_selectors["batch", "v1", "jobs"] = LABEL_CONTROLLER_NAME
    # Bounded watch requests: a silently dropped connection is noticed within minutes.
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
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


def build_registry(*, webhook: bool = False) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(memo: Any, **_: Any) -> kopf.ConnectionInfo:
        connection: Connection = memo.runtime.options.connection
        return kopf.ConnectionInfo(
            server=connection.server,
            ca_path=connection.ca_file,
            insecure=not connection.verify,
            certificate_path=connection.cert_file,
            private_key_path=connection.key_file,
            token=connection.token,
            scheme="Bearer" if connection.token else None,
        )

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
        runtime: Runtime = memo.runtime
        configure(settings, runtime.options.webhook)
        await runtime.start()

    @kopf.on.cleanup(registry=registry)
    async def cleanup(memo: Any, **_: Any) -> None:
        await memo.runtime.stop()

    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
    def reactive_job_changed(namespace: str | None, name: str, memo: Any, **_: Any) -> None:
        memo.runtime.enqueue((namespace or "", name))

    ours = {LABEL_CONTROLLER_NAME: kopf.PRESENT}

    @kopf.on.event("batch", "v1", "jobs", labels=ours, registry=registry)
    def job_changed(
        namespace: str | None, name: str, labels: Mapping[str, str], memo: Any, **_: Any
    ) -> None:
        log.debug("job %s/%s changed", namespace, name)
        memo.runtime.enqueue((namespace or "", labels[LABEL_CONTROLLER_NAME]))

    if webhook:

        @kopf.on.validate(
            GROUP, VERSION, PLURAL, id=WEBHOOK_ID, operations=["CREATE", "UPDATE"],
            registry=registry,
        )  # fmt: skip
        async def validate(body: kopf.Body, memo: Any, **kwargs: Any) -> None:
            controller: Controller = memo.runtime.controller
            old = kwargs.get("old")  # passed by kopf for UPDATE, not in its type protocol
            await check(dict(body), dict(old) if old else None, controller.jobs)

    return registry

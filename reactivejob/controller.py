"""Carrying out reconcile decisions against the API server.

``Controller.reconcile`` reads a ReactiveJob and its Jobs afresh (no cache: what it decides on
is what the server has now), asks ``decide`` what to do, and does it in an order that never
loses anything: finalizer before the first Job, Job before the status that names it, and our
finalizer released last. Writes that change metadata carry the resourceVersion they were
decided on, so a concurrent change makes them fail with 409 and the key is retried.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from typing import Any

import httpx

from reactivejob_api import (
    AlreadyExists,
    AsyncReactiveJobClient,
    Connection,
    Forbidden,
    Invalid,
    NotFound,
    ReactiveJob,
)
from reactivejob_api.aio import AsyncEventClient, AsyncJobClient
from reactivejob_api.models import Job

from .events import EventRecorder
from .metrics import JOBS_CREATED
from .naming import FINALIZER, LABEL_CONTROLLER_NAME, LABEL_CONTROLLER_UID
from .reconcile import REJECTED, REJECTED_RETRY, Event, Plan, decide
from .status import Outcome, State, build_status, same_status

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, name)


class Controller:
    def __init__(self, connection: Connection, timeout: float = 30.0) -> None:
        self.http = httpx.AsyncClient(
            base_url=connection.server,
            verify=connection.ssl_context(),
            headers=connection.auth_headers(),
            timeout=timeout,
        )
        self.reactive_jobs = AsyncReactiveJobClient(connection, http=self.http)
        self.jobs = AsyncJobClient(connection, http=self.http)
        self.recorder = EventRecorder(AsyncEventClient(connection, http=self.http))

    async def close(self) -> None:
        await self.http.aclose()

    async def reconcile(self, key: Key) -> float | None:
        namespace, name = key
        try:
            raw = await self.reactive_jobs.get_json(name, namespace)
        except NotFound:
            await self._release_orphans(namespace, name)
            return None
        reactive_job = ReactiveJob.model_validate(raw)
        uid = raw["metadata"]["uid"]
        listed = await self.jobs.list(namespace, label_selector=f"{LABEL_CONTROLLER_UID}={uid}")
        if log.isEnabledFor(logging.DEBUG):  # what a decision was based on, for tests and triage
            seen = ", ".join(_described(job) for job in listed.items) or "none"
            log.debug("%s/%s: reconciling generation %s; jobs: %s", *key, _generation(raw), seen)
        now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        template = raw.get("spec", {}).get("jobTemplate") or {}
        plan = decide(reactive_job, template, listed.items, now)
        return await self._execute(reactive_job, raw, plan, {_name(j): j for j in listed.items})

    async def _execute(
        self, reactive_job: ReactiveJob, raw: dict[str, Any], plan: Plan, jobs: dict[str, Job]
    ) -> float | None:
        meta = raw["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        if plan.add_finalizer:
            await self._set_finalizers(
                self.reactive_jobs, meta, [*meta.get("finalizers", []), FINALIZER]
            )
        if plan.create is not None:
            log.info("%s/%s: creating job %s", namespace, name, _name(plan.create))
            refused = await self._create(plan.create, meta["uid"])
            if refused is not None:
                return await self._rejected(reactive_job, raw, refused)
        for job_name in plan.release:
            await self._drop_finalizer(self.jobs, _metadata(jobs[job_name]))
        if plan.release:
            log.info("%s/%s: released superseded jobs %s", namespace, name, ", ".join(plan.release))
        for job_name in plan.delete:
            log.info("%s/%s: deleting job %s", namespace, name, job_name)
            with contextlib.suppress(NotFound):
                await self.jobs.delete(job_name, namespace, propagation_policy="Foreground")
        if plan.status is not None and not same_status(reactive_job.status, plan.status):
            log.info("%s/%s: state %s", namespace, name, plan.status.state)
            await self._write_status(name, namespace, plan.status)
        for event in plan.events:
            await self.recorder.record(raw, event)
        if plan.remove_finalizer:
            await self._drop_finalizer(self.reactive_jobs, meta)
        return plan.requeue_after

    async def _create(self, job: Job, uid: str) -> str | None:
        """Create the Job; the server's message when it refuses the template, else None."""
        try:
            await self.jobs.create(job)
            JOBS_CREATED.inc()
        except AlreadyExists:
            # Our own earlier attempt (the name is fixed by uid and generation) is fine;
            # anything else holding the name is a conflict a person must resolve.
            existing = await self.jobs.get(_name(job), _namespace(job))
            labels = (existing.metadata.labels if existing.metadata else None) or {}
            if labels.get(LABEL_CONTROLLER_UID) != uid:
                return f"a Job named {_name(job)} exists and does not belong to this ReactiveJob"
        except (Invalid, Forbidden) as refused:
            return refused.message
        return None

    async def _rejected(
        self, reactive_job: ReactiveJob, raw: dict[str, Any], message: str
    ) -> float:
        meta = raw["metadata"]
        outcome = Outcome(State.ERROR, REJECTED, message)
        now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        status = build_status(reactive_job.status, meta.get("generation", 0), outcome, now)
        if not same_status(reactive_job.status, status):
            await self._write_status(meta["name"], meta["namespace"], status)
            await self.recorder.record(raw, Event("Warning", REJECTED, message))
        return REJECTED_RETRY

    async def _write_status(self, name: str, namespace: str, status: Any) -> None:
        body = status.model_dump(by_alias=True, exclude_none=True, mode="json")
        with contextlib.suppress(NotFound):
            await self.reactive_jobs.patch_status(name, namespace, {"status": body})

    @staticmethod
    async def _set_finalizers(
        client: AsyncReactiveJobClient | AsyncJobClient, meta: dict[str, Any], finalizers: list[str]
    ) -> None:
        """Replace the finalizer list, but only if it is still the one we decided on.

        The guard is a JSON-patch test of the list itself, not the resourceVersion: other
        writers (labels, status, GitOps tools) do not make it fail, so a busy object cannot
        starve us; a concurrent finalizer change does, and the key is retried.
        """
        patch: list[dict[str, Any]] = [
            {"op": "test", "path": "/metadata/finalizers", "value": meta.get("finalizers")},
            {"op": "add", "path": "/metadata/finalizers", "value": finalizers},
        ]
        try:
            await client.patch(meta["name"], meta["namespace"], patch, type="json")
        except NotFound:
            pass
        except Invalid as error:
            raise FinalizersChanged(f"finalizers of {meta['name']} changed meanwhile") from error

    async def _drop_finalizer(
        self, client: AsyncReactiveJobClient | AsyncJobClient, meta: dict[str, Any]
    ) -> None:
        remaining = [f for f in meta.get("finalizers", []) if f != FINALIZER]
        await self._set_finalizers(client, meta, remaining)

    async def _release_orphans(self, namespace: str, name: str) -> None:
        """The ReactiveJob is gone (its finalizer was removed by hand): let its Jobs go too,
        so the garbage collector can remove them through their owner reference."""
        selector = f"{LABEL_CONTROLLER_NAME}={name}"
        jobs = (await self.jobs.list(namespace, label_selector=selector)).items
        if not jobs:
            return
        try:  # a new ReactiveJob of the same name may have appeared since: keep its Jobs
            successor = (await self.reactive_jobs.get_json(name, namespace))["metadata"]["uid"]
        except NotFound:
            successor = None
        for job in jobs:
            job_meta = _metadata(job)
            owner = job_meta.get("labels", {}).get(LABEL_CONTROLLER_UID)
            if owner != successor and FINALIZER in job_meta.get("finalizers", []):
                await self._drop_finalizer(self.jobs, job_meta)


class FinalizersChanged(RuntimeError):
    """Someone changed the finalizers between our read and our write: reconcile again."""


def _metadata(job: Job) -> dict[str, Any]:
    """A Job's metadata as the server sent it (the JSON-patch guard compares it verbatim)."""
    dumped: dict[str, Any] = job.model_dump(by_alias=True, exclude_unset=True)["metadata"]
    return dumped


def _described(job: Job) -> str:
    deleting = job.metadata is not None and job.metadata.deletion_timestamp is not None
    return f"{_name(job)} (deleting)" if deleting else _name(job)


def _generation(raw: dict[str, Any]) -> object:
    return raw["metadata"].get("generation")


def _name(job: Job) -> str:
    assert job.metadata is not None and job.metadata.name is not None
    return job.metadata.name


def _namespace(job: Job) -> str:
    assert job.metadata is not None and job.metadata.namespace is not None
    return job.metadata.namespace

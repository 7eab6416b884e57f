"""Carrying out reconcile decisions against the API server.

``Executor.reconcile`` reads a ReactiveJob and its Jobs from the watch-fed cache (no API call),
asks ``decide`` what to do, and does it in an order that never loses anything: finalizer
before the first Job, Job before the status that names it, and our finalizer released last.

Acting on a cache means acting on a view that may be a moment old. Each write is made safe on
such a view: Job names are fixed by uid and generation (a repeated create meets AlreadyExists),
finalizer writes carry a JSON-patch test of the list they were decided on, a Job is not created
when the cache already holds a newer generation, and a status never goes over one written for a
newer generation. And a key is not acted on until the cache shows our own last writes to it
(client-go's expectations), so a fast second event cannot repeat them.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from reactivejob.core.config_refs import ConfigView
from reactivejob.core.decide import Plan, decide, release_orphans, still_current
from reactivejob.core.failure import NOTHING_FOUND, diagnose
from reactivejob.core.objects import meta, name_of
from reactivejob.core.ownership import controller_of, owner_reference
from reactivejob.core.status import same_status
from reactivejob_api import (
    AlreadyExists,
    ApiError,
    Forbidden,
    Invalid,
    NotFound,
    ReactiveJob,
    ReactiveJobRunFailure,
)
from reactivejob_api.models import Job
from reactivejob_api.vocabulary import ANNOTATION_HELD, FINALIZER, LABEL_CONTROLLER_UID

from .cache import Cache, CachedReactiveJob, reactive_job_entry
from .clients import ApiClients
from .clock import SYSTEM, Clock
from .config_cache import TRIGGERS_OFF
from .events import EventRecorder
from .informer import Key
from .metrics import JOBS_CREATED, RUNS_FINISHED
from .workload_cache import KueueSource

log = logging.getLogger(__name__)

EXPECTATION_RECHECK = 5.0  # safety net: the watch event for our write normally comes first
CONFIG_SYNC_RECHECK = 1.0  # an opted-in object waits this long for its config caches' list
EXPECTATION_TIMEOUT = 30.0  # an expectation the cache never meets (object gone) is dropped
JOB_CONTROLLER_UID = "batch.kubernetes.io/controller-uid"  # the job controller's Pod label


class Expectations:
    """What the cache must show of our own writes to a key before we act on it again: the
    ReactiveJob's resourceVersion after a write, and a Job we created (to exist) or changed
    (at the resourceVersion of our write)."""

    def __init__(self, clock: Clock = SYSTEM) -> None:
        self._clock = clock
        self._versions: dict[Key, tuple[int, float]] = {}
        self._jobs: dict[Key, tuple[str, int, float]] = {}  # name, version (0: to exist), when

    def wrote(self, key: Key, resource_version: str | None) -> None:
        if resource_version and resource_version.isdigit():
            self._versions[key] = (int(resource_version), self._clock.monotonic())

    def created(self, key: Key, job_name: str) -> None:
        self._jobs[key] = (job_name, 0, self._clock.monotonic())

    def wrote_job(self, key: Key, job_name: str, resource_version: str | None) -> None:
        if resource_version and resource_version.isdigit():
            self._jobs[key] = (job_name, int(resource_version), self._clock.monotonic())

    def met(self, key: Key, entry: CachedReactiveJob, jobs: Mapping[str, str]) -> bool:
        """``jobs``: the cached Jobs of the key, by name, with their resourceVersions."""
        now = self._clock.monotonic()
        version = self._versions.get(key)
        if version is not None:
            seen = entry.resource_version
            if (seen.isdigit() and int(seen) >= version[0]) or now - version[
                1
            ] > EXPECTATION_TIMEOUT:
                del self._versions[key]
        job = self._jobs.get(key)
        if job is not None:
            name, wanted, since = job
            cached = jobs.get(name)
            shown = cached is not None and (wanted == 0 or _at_least(cached, wanted))
            if shown or now - since > EXPECTATION_TIMEOUT:
                del self._jobs[key]
        return key not in self._versions and key not in self._jobs

    def forget(self, key: Key) -> None:
        self._versions.pop(key, None)
        self._jobs.pop(key, None)


class Executor:
    """Carries out the Plans of ``decide`` for each key the work queue hands it."""

    def __init__(
        self,
        clients: ApiClients,
        cache: Cache,
        recorder: EventRecorder,
        kueue: KueueSource | None = None,
    ) -> None:
        self.clients = clients
        self.kueue = kueue or KueueSource()
        self.cache = cache
        self.recorder = recorder
        self.expectations = Expectations()

    async def reconcile(self, key: Key) -> float | None:
        entry = self.cache.reactive_job(key)
        owned = self.cache.jobs_of_owner(key)
        if entry is None:
            self.expectations.forget(key)
            await self._release(release_orphans(owned).release, {name_of(j): j for j in owned})
            return None
        versions = {name_of(j): str(meta(j).resource_version or "") for j in owned}
        if not self.expectations.met(key, entry, versions):
            log.debug("%s/%s: waiting for the cache to show our last write", *key)
            return EXPECTATION_RECHECK
        reactive_job = entry.object
        uid = meta(reactive_job).uid
        mine = [j for j in owned if _owner_uid(j) == uid]
        orphans = release_orphans([j for j in owned if _owner_uid(j) != uid]).release
        if log.isEnabledFor(logging.DEBUG):  # what a decision was based on, for tests and triage
            seen = ", ".join(_described(job) for job in mine) or "none"
            log.debug("%s/%s: reconciling generation %s; jobs: %s", *key, entry.generation, seen)
        config = self._config(key, entry)
        if config is None:
            return CONFIG_SYNC_RECHECK  # its ConfigMap and Secret caches have not listed yet
        now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        kueue = self.kueue.view(key[0], (name_of(j) for j in mine))

        failures: dict[str, ReactiveJobRunFailure] = {}

        def decided(entry: CachedReactiveJob, refused: str | None = None) -> Plan:
            return decide(reactive_job, entry.template, mine, now, digest=entry.template_hash,
                          config=config or None, refused=refused, kueue=kueue,
                          failures=failures)  # fmt: skip

        plan = decided(entry)
        if plan.fetch_template:
            try:
                raw = await self.clients.reactive_jobs.get_json(key[1], key[0])
            except NotFound:
                return None
            entry = reactive_job_entry(raw, keep_template=True)
            reactive_job = entry.object
            if meta(reactive_job).uid != uid:
                return None  # replaced by a namesake: its own events bring it here
            plan = decided(entry)
        if plan.diagnose:  # asked once per failed run (with the template, if it was fetched)
            failures.update(await self._diagnose(key, plan.diagnose, mine))
            plan = decided(entry)
        jobs = {name_of(j): j for j in owned}
        done = await self._execute(key, reactive_job, plan, jobs, orphans)
        if isinstance(done, Refused):  # decide() says what a refusal means
            plan = decided(entry, done.message)
            done = await self._execute(key, reactive_job, plan, jobs, ())
        assert not isinstance(done, Refused), "a Plan made after a refusal creates nothing"
        return done

    async def _diagnose(
        self, key: Key, names: Sequence[str], jobs: Sequence[Job]
    ) -> dict[str, ReactiveJobRunFailure]:
        """What the Pods of each failed Job say: one LIST by its controller-uid label, and no
        read of any log. A Job whose Pods cannot be listed (gone, or no right to) says nothing;
        the run is reported with the Job's own words."""
        uids = {name_of(j): meta(j).uid for j in jobs}
        said: dict[str, ReactiveJobRunFailure] = {}
        for name in names:
            try:
                pods = await self.clients.pods.list_json(
                    key[0], label_selector=f"{JOB_CONTROLLER_UID}={uids[name]}"
                )
            except (NotFound, Forbidden) as error:
                log.warning("%s/%s: cannot list the pods of failed job %s: %s", *key, name,
                            error.reason)  # fmt: skip
                said[name] = NOTHING_FOUND
                continue
            said[name] = diagnose(pods.get("items") or [])
        return said

    def _config(self, key: Key, entry: CachedReactiveJob) -> ConfigView | Literal[False] | None:
        """What is known of the ConfigMaps and Secrets it reads (False: it does not opt in);
        None while their caches are still listing."""
        if entry.references is None:
            return False
        if self.cache.config is None:
            return ConfigView(None, problem=TRIGGERS_OFF)
        return self.cache.config.view(key[0], entry.references)

    async def _execute(
        self,
        key: Key,
        reactive_job: ReactiveJob,
        plan: Plan,
        jobs: dict[str, Job],
        orphans: tuple[str, ...],
    ) -> float | Refused | None:
        own = meta(reactive_job)
        namespace, name = str(own.namespace), str(own.name)
        if plan.add_finalizer:
            updated = await self._set_finalizers(
                self.clients.reactive_jobs,
                namespace,
                name,
                own.finalizers,
                [*(own.finalizers or []), FINALIZER],
            )
            if updated is None:
                return None  # deleted meanwhile: there is nothing left to run a Job for
            self.expectations.wrote(key, updated)
        if plan.create is not None:
            latest = self.cache.reactive_job(key)
            if not still_current(reactive_job, latest.object if latest else None, plan.create):
                log.debug("%s/%s: the run of generation %s was replaced meanwhile", *key,
                          own.generation)  # fmt: skip
                return None  # the change that replaced it has queued this key again
            log.info("%s/%s: creating job %s", namespace, name, name_of(plan.create))
            refused = await self._create(plan.create, str(own.uid))
            if refused is not None:
                return Refused(refused)
            self.expectations.created(key, name_of(plan.create))
        await self._release((*plan.release, *orphans), jobs)
        if plan.release:
            log.info("%s/%s: released superseded jobs %s", namespace, name, ", ".join(plan.release))
        for job_name, propagation in (
            *((n, "Foreground") for n in plan.delete),
            *((n, "Background") for n in plan.prune),
        ):
            log.info("%s/%s: deleting job %s (%s)", namespace, name, job_name, propagation)
            with contextlib.suppress(NotFound):
                await self.clients.jobs.delete(job_name, namespace, propagation_policy=propagation)
        for job_name in plan.adopt:
            log.info("%s/%s: adopting job %s (no controller)", namespace, name, job_name)
            adopted = await self._adopt(reactive_job, jobs[job_name])
            self.expectations.wrote_job(key, job_name, adopted)
        if plan.resume is not None:
            log.info("%s/%s: resuming held job %s", namespace, name, plan.resume)
            resumed = await self._resume(namespace, plan.resume)
            self.expectations.wrote_job(key, plan.resume, resumed)
        if plan.status is not None and not same_status(reactive_job.status, plan.status):
            await self._write_status(key, plan.status)
        for event in plan.events:
            self.recorder.record(reactive_job, event)
        if plan.finished is not None:
            RUNS_FINISHED.labels(plan.finished).inc()
        if plan.remove_finalizer:
            remaining = [f for f in own.finalizers or [] if f != FINALIZER]
            await self._set_finalizers(
                self.clients.reactive_jobs, namespace, name, own.finalizers, remaining
            )
        return plan.requeue_after

    async def _adopt(self, reactive_job: ReactiveJob, job: Job) -> str | None:
        """Set our controller reference, only on the Job as it was seen (its resourceVersion):
        if anything changed it meanwhile, the next reconcile looks again. Returns the Job's new
        resourceVersion, if we changed it."""
        held = meta(job)
        patch: list[dict[str, Any]] = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": held.resource_version},
            {
                "op": "add",
                "path": "/metadata/ownerReferences",
                "value": [
                    *(
                        r.model_dump(by_alias=True, exclude_none=True)
                        for r in held.owner_references or []
                    ),
                    owner_reference(reactive_job),
                ],
            },
        ]
        return await self._patch_job_if(str(held.namespace), name_of(job), patch)

    async def _resume(self, namespace: str, name: str) -> str | None:
        """Unsuspend a held Job and drop its mark, only if it is still suspended (a JSON-patch
        test): a repeat on a stale view, or a Job resumed by hand meanwhile, is left as is.
        Returns the Job's new resourceVersion, if we changed it."""
        patch: list[dict[str, Any]] = [
            {"op": "test", "path": "/spec/suspend", "value": True},
            {"op": "remove", "path": f"/metadata/annotations/{_pointer(ANNOTATION_HELD)}"},
            {"op": "replace", "path": "/spec/suspend", "value": False},
        ]
        return await self._patch_job_if(namespace, name, patch)

    async def _patch_job_if(
        self, namespace: str, name: str, patch: list[dict[str, Any]]
    ) -> str | None:
        """Apply a JSON patch whose first op tests what we decided on; the Job's new
        resourceVersion, or None when it is gone or the test failed (changed meanwhile)."""
        try:
            updated = await self.clients.jobs.patch_json(name, namespace, patch, type="json")
        except (NotFound, Invalid):
            return None
        version: str | None = updated["metadata"].get("resourceVersion")
        return version

    async def _create(self, job: Job, uid: str) -> str | None:
        """Create the Job; the server's message when it refuses the template, else None."""
        try:
            await self.clients.jobs.create_json(job)  # the answer is not needed: no model built
            JOBS_CREATED.inc()
        except AlreadyExists:
            # Our own earlier attempt (the name is fixed by uid and generation) is fine;
            # anything else holding the name is a conflict a person must resolve.
            existing = await self.clients.jobs.get(name_of(job), str(meta(job).namespace))
            controller = controller_of(existing)
            if controller is None or controller.uid != uid:
                return f"a Job named {name_of(job)} exists and does not belong to this ReactiveJob"
        except ApiError as error:
            if not _refused(error):
                raise  # the server could not act (unavailable, throttled): retry with backoff
            return error.message
        return None

    async def _write_status(self, key: Key, status: Any) -> None:
        latest = self.cache.reactive_job(key)
        written = latest.observed_generation if latest is not None else -1
        if written > (status.observed_generation or -1):
            return  # the cache holds a status for a newer generation: never write over it
        log.info("%s/%s: state %s", *key, status.state)
        body = status.model_dump(by_alias=True, exclude_none=True, mode="json")
        with contextlib.suppress(NotFound):
            updated = await self.clients.reactive_jobs.patch_status_json(
                key[1], key[0], {"status": body}
            )
            self.expectations.wrote(key, updated["metadata"].get("resourceVersion"))

    async def _release(self, names: Sequence[str], jobs: dict[str, Job]) -> None:
        for job_name in names:
            held = meta(jobs[job_name])
            remaining = [f for f in held.finalizers or [] if f != FINALIZER]
            await self._set_finalizers(
                self.clients.jobs, str(held.namespace), job_name, held.finalizers, remaining
            )

    @staticmethod
    async def _set_finalizers(
        client: Any, namespace: str, name: str, seen: list[str] | None, finalizers: list[str]
    ) -> str | None:
        """Replace the finalizer list, but only if it is still the one we decided on; returns the
        object's new resourceVersion.

        The guard is a JSON-patch test of the list itself, not the resourceVersion: other
        writers (labels, status, GitOps tools) do not make it fail, so a busy object cannot
        starve us; a concurrent finalizer change does, and the key is retried.
        """
        patch: list[dict[str, Any]] = [
            {"op": "test", "path": "/metadata/finalizers", "value": seen},
            {"op": "add", "path": "/metadata/finalizers", "value": finalizers},
        ]
        try:
            updated = await client.patch_json(name, namespace, patch, type="json")
        except NotFound:
            return None
        except Invalid as error:
            raise FinalizersChanged(f"finalizers of {name} changed meanwhile") from error
        version: str | None = updated["metadata"].get("resourceVersion")
        return version


@dataclass(frozen=True)
class Refused:
    """The API server refused the Job a Plan created, in these words."""

    message: str


class FinalizersChanged(RuntimeError):
    """Someone changed the finalizers between our read and our write: reconcile again."""


def _at_least(resource_version: str, wanted: int) -> bool:
    return resource_version.isdigit() and int(resource_version) >= wanted


def _pointer(key: str) -> str:
    """``key`` as one JSON-pointer segment (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")


def _refused(error: ApiError) -> bool:
    """Whether the server turned the Job down, rather than failed to act on it. A validating
    webhook picks its own code for a denial (Kyverno 400, others 403 or 500), and its name and
    reason are in the message; 400, 403 and 422 refuse the object whoever answers."""
    return error.status in (400, 403, 422) or "denied the request" in error.message


def _described(job: Job) -> str:
    return f"{name_of(job)} (deleting)" if meta(job).deletion_timestamp else name_of(job)


def _owner_uid(job: Job) -> str | None:
    return (meta(job).labels or {}).get(LABEL_CONTROLLER_UID)

"""What the operator knows of the cluster: ReactiveJobs and their Jobs, kept current by watches.

Reconciles read only this. Each entry keeps what decisions need and no more:
- a Job without its pod template and managedFields (the template can be 100s of KB);
- a ReactiveJob with its metadata and status, the hash of its job template, and the template
  itself only when it is small. A large template is fetched when a Job must be made from it,
  so memory does not grow with template size while the common case costs no extra call.
Jobs are indexed by the ReactiveJob that made them (namespace and controller-name label), which
also finds the Jobs of a ReactiveJob that is gone.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from reactivejob.core.config_refs import Reference, references
from reactivejob.core.naming import canonical_json, digest_of
from reactivejob_api import ReactiveJob
from reactivejob_api.models import Job
from reactivejob_api.vocabulary import LABEL_CONTROLLER_NAME

from .clients import ApiClients
from .config_cache import ConfigCache
from .informer import Informer, Key

log = logging.getLogger("reactivejob")

# A template up to this size (its JSON) stays in the cache; larger ones are fetched on create.
TEMPLATE_KEPT_UP_TO = 16 * 1024
# The whole object again, as the last kubectl client-side apply sent it: never needed here.
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


@dataclass(frozen=True, slots=True)
class CachedReactiveJob:
    """Held as compact JSON, not as models: a model of each object costs about ten times the
    memory, and a reconcile builds the one it needs in microseconds."""

    encoded: bytes  # the object with trimmed metadata and an empty spec.jobTemplate
    template_hash: str
    template_encoded: bytes | None  # the stored spec.jobTemplate when small, else None
    resource_version: str
    generation: int
    observed_generation: int  # of the status it holds; -1 without one
    # The ConfigMaps and Secrets its template uses, with spec.rerunOnConfigChange; else None.
    references: tuple[Reference, ...] | None = None

    @property
    def object(self) -> ReactiveJob:
        return ReactiveJob.model_validate_json(self.encoded)

    @property
    def template(self) -> dict[str, Any] | None:
        if self.template_encoded is None:
            return None
        loaded: dict[str, Any] = json.loads(self.template_encoded)
        return loaded


def reactive_job_entry(
    raw: dict[str, Any], previous: CachedReactiveJob | None = None, *, keep_template: bool = False
) -> CachedReactiveJob:
    spec = dict(raw.get("spec") or {})
    template = spec.pop("jobTemplate", None) or {}
    meta = _trimmed(raw.get("metadata") or {})
    generation = meta.get("generation") or 0
    reusable = (
        previous is not None
        and previous.generation == generation
        and (previous.template_encoded is not None or not keep_template)
    )
    if reusable and previous is not None:
        # The spec (so the template) changes only with the generation: status and metadata
        # updates, most events, need no new hash.
        digest, kept = previous.template_hash, previous.template_encoded
        refs = previous.references
    else:
        text = canonical_json(template)  # once: it gives both the hash and the size
        digest = digest_of(text)
        kept = text.encode() if keep_template or len(text) <= TEMPLATE_KEPT_UP_TO else None
        refs = references(template) if spec.get("rerunOnConfigChange") is True else None
    trimmed = {**raw, "metadata": meta, "spec": {**spec, "jobTemplate": {}}}
    return CachedReactiveJob(
        encoded=_encoded(trimmed),
        template_hash=digest,
        template_encoded=kept,
        resource_version=meta.get("resourceVersion", ""),
        generation=generation,
        observed_generation=(raw.get("status") or {}).get("observedGeneration", -1),
        references=refs,
    )


@dataclass(frozen=True, slots=True)
class CachedJob:
    owner: str | None  # the controller-name label: the ReactiveJob it was made for
    encoded: bytes  # without pod template and managedFields

    def model(self) -> Job:
        return Job.model_validate_json(self.encoded)


def job_entry(raw: dict[str, Any], previous: CachedJob | None = None) -> CachedJob:
    spec = {k: v for k, v in (raw.get("spec") or {}).items() if k != "template"}
    meta = _trimmed(raw.get("metadata") or {})
    # The model requires a pod template; an empty one stands for "not kept".
    trimmed = {**raw, "metadata": meta, "spec": {**spec, "template": {}}}
    return CachedJob((meta.get("labels") or {}).get(LABEL_CONTROLLER_NAME), _encoded(trimmed))


def _encoded(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _trimmed(meta: dict[str, Any]) -> dict[str, Any]:
    trimmed = {k: v for k, v in meta.items() if k != "managedFields"}
    annotations = meta.get("annotations")
    if annotations and _LAST_APPLIED in annotations:
        trimmed["annotations"] = {k: v for k, v in annotations.items() if k != _LAST_APPLIED}
    return trimmed


class Cache:
    """One informer per kind and watched namespace (or one per kind for all namespaces)."""

    def __init__(
        self,
        clients: ApiClients,
        namespaces: Sequence[str],
        on_change: Callable[[Key], None],
        config: ConfigCache | None = None,
    ) -> None:
        self._on_change = on_change
        self.config = config
        scopes: list[str | None] = list(namespaces) or [None]
        self._reactive_jobs = {
            ns: Informer(
                clients.watching.reactive_jobs, ns, reactive_job_entry, self._reactive_job_changed
            )
            for ns in scopes
        }
        self._jobs = {
            ns: Informer(
                clients.watching.jobs, ns, job_entry, self._job_changed, LABEL_CONTROLLER_NAME
            )
            for ns in scopes
        }
        self._by_owner: dict[Key, dict[str, CachedJob]] = {}  # (namespace, owner name) -> Jobs

    @property
    def informers(self) -> list[Informer[Any]]:
        return [*self._reactive_jobs.values(), *self._jobs.values()]

    async def wait_synced(self) -> None:
        """Until every cache has completed its first list: acting earlier could, on a takeover,
        miss a Job the Go operator made and create a second one."""
        await asyncio.gather(*(informer.synced.wait() for informer in self.informers))

    def synced(self) -> bool:
        return all(informer.synced.is_set() for informer in self.informers)

    def watching(self) -> bool:
        return all(informer.watching for informer in self.informers)

    def reactive_job(self, key: Key) -> CachedReactiveJob | None:
        return self._scope(self._reactive_jobs, key[0]).store.get(key)

    def owner_of_job(self, key: Key) -> str | None:
        """The ReactiveJob the cached Job ``key`` was made for (its controller-name label)."""
        job: CachedJob | None = self._scope(self._jobs, key[0]).store.get(key)
        return job.owner if job is not None else None

    def jobs_of_owner(self, key: Key) -> list[Job]:
        """Jobs labelled as made for the ReactiveJob named ``key``, of any uid."""
        return [job.model() for job in self._by_owner.get(key, {}).values()]

    @staticmethod
    def _scope(informers: dict[str | None, Informer[Any]], namespace: str) -> Informer[Any]:
        return informers.get(namespace) or informers[None]

    def _reactive_job_changed(
        self, key: Key, _old: CachedReactiveJob | None, new: CachedReactiveJob | None
    ) -> None:
        if self.config is not None:
            self.config.track(key, new.references if new is not None else None)
        self._on_change(key)

    def _job_changed(self, key: Key, old: CachedJob | None, new: CachedJob | None) -> None:
        namespace, name = key
        log.debug("job %s/%s changed", namespace, name)  # tests check what reached us
        before = old.owner if old is not None else None
        after = new.owner if new is not None else None
        if before is not None:
            jobs = self._by_owner.get((namespace, before), {})
            jobs.pop(name, None)
            if not jobs:
                self._by_owner.pop((namespace, before), None)
        if new is not None and after is not None:
            self._by_owner.setdefault((namespace, after), {})[name] = new
        for owner in {before, after} - {None}:
            self._on_change((namespace, str(owner)))

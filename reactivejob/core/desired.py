"""The Job a ReactiveJob asks for: its template plus the labels, annotations, finalizer and
owner reference that tie the Job to it (the same ones the Go operator sets)."""

from __future__ import annotations

import copy
from typing import Any

from reactivejob_api import ReactiveJob
from reactivejob_api.models import Job
from reactivejob_api.vocabulary import (
    ANNOTATION_CONFIG_HASH,
    ANNOTATION_GENERATION,
    ANNOTATION_HASH,
    ANNOTATION_HELD,
    ANNOTATION_RERUN,
    ANNOTATION_RUN,
    ANNOTATION_RUN_CAUSE,
    FINALIZER,
    LABEL_CONTROLLER_NAME,
    LABEL_CONTROLLER_UID,
)

from .naming import job_name
from .ownership import owner_reference


def desired_job(
    reactive_job: ReactiveJob,
    template: dict[str, Any],
    template_hash: str,
    *,
    cause: str | None = None,
    rerun: str | None = None,
    config_hash: str | None = None,
    run: int = 1,
    hold: bool = False,
) -> Job:
    """``hold``: create it suspended (marked, so that the operator resumes it later), unless
    the template asks for a suspended Job itself; such a Job is the user's to resume."""
    metadata = reactive_job.metadata
    assert metadata is not None and metadata.name and metadata.uid and metadata.namespace
    generation = metadata.generation or 0
    template_metadata: dict[str, Any] = copy.deepcopy(template.get("metadata") or {})
    labels = {
        **(template_metadata.get("labels") or {}),
        LABEL_CONTROLLER_UID: metadata.uid,
        LABEL_CONTROLLER_NAME: metadata.name,
    }
    annotations = {
        **(template_metadata.get("annotations") or {}),
        ANNOTATION_GENERATION: str(generation),
        ANNOTATION_HASH: template_hash,
    }
    spec = copy.deepcopy(template.get("spec") or {})
    if cause is not None:  # made by run control: numbered
        annotations[ANNOTATION_RUN_CAUSE] = cause
        annotations[ANNOTATION_RUN] = str(run)
    if rerun is not None:
        annotations[ANNOTATION_RERUN] = rerun
    if config_hash is not None:
        annotations[ANNOTATION_CONFIG_HASH] = config_hash
    if reactive_job.spec is not None and reactive_job.spec.failure_log:
        _fall_back_to_logs(spec)
    if hold and not spec.get("suspend"):
        spec["suspend"] = True
        annotations[ANNOTATION_HELD] = "true"
    finalizers = [f for f in template_metadata.get("finalizers") or [] if f != FINALIZER]
    body = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            **{
                k: v
                for k, v in template_metadata.items()
                if k not in ("name", "generateName", "namespace")
            },
            "name": job_name(
                metadata.name, metadata.uid, generation, rerun, config_hash=config_hash, run=run
            ),
            "namespace": metadata.namespace,
            "labels": labels,
            "annotations": annotations,
            "finalizers": [*finalizers, FINALIZER],
            "ownerReferences": [owner_reference(reactive_job)],
        },
        "spec": spec,
    }
    return Job.model_validate(body)


# The kubelet then keeps the tail of a failed container's log (the last 80 lines, at most
# 2048 bytes) as its termination message: nothing reads logs through the API server.
FALLBACK_TO_LOGS = "FallbackToLogsOnError"


def _fall_back_to_logs(spec: dict[str, Any]) -> None:
    """spec.failureLog: every container and init container that sets no
    terminationMessagePolicy gets FallbackToLogsOnError; one that sets a policy keeps it."""
    pod = (spec.get("template") or {}).get("spec") or {}
    for kind in ("initContainers", "containers"):
        for container in pod.get(kind) or []:
            container.setdefault("terminationMessagePolicy", FALLBACK_TO_LOGS)

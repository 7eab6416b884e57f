"""The validating webhook: a ReactiveJob is refused at apply time when the Job it would make is.

It asks the API server itself (a server-side dry-run create of that exact Job), so every rule
the cluster enforces on Jobs (schema, defaults, admission plugins, other webhooks, quotas)
is applied, with the server's own words in the refusal. CEL rules in the CRD catch
template metadata the operator controls before this runs; they are checked here too for
clusters whose CRD predates them.
"""

from __future__ import annotations

from typing import Any

import kopf

from reactivejob.core.desired import desired_job
from reactivejob.core.naming import template_hash
from reactivejob.core.runs import rerun_token_problem
from reactivejob_api import AlreadyExists, ApiError, ReactiveJob
from reactivejob_api.aio import AsyncJobClient
from reactivejob_api.vocabulary import ANNOTATION_RERUN

# The Go operator's path, so existing ValidatingWebhookConfigurations keep working.
WEBHOOK_ID = "validate-batch-cs-sap-com-v1alpha1-reactivejob"
# Before the API server stores a new object it may have no uid yet; any uid makes the same Job.
_PLACEHOLDER_UID = "00000000-0000-0000-0000-000000000000"
_FORBIDDEN_TEMPLATE_FIELDS = ("name", "generateName", "namespace")


async def check(body: dict[str, Any], old: dict[str, Any] | None, jobs: AsyncJobClient) -> None:
    """Raise ``kopf.AdmissionError`` with a message that says what to fix."""
    meta = body.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return  # finalizer removal during deletion must never be blocked by the template
    # An annotation: no CRD rule can see it (CEL in a CRD reads only metadata.name).
    problem = rerun_token_problem((meta.get("annotations") or {}).get(ANNOTATION_RERUN) or None)
    if problem is not None:
        raise kopf.AdmissionError(problem, code=422)
    if old is not None and old.get("spec") == body.get("spec"):
        return  # metadata-only updates (finalizers, labels) cannot make the template invalid
    template = (body.get("spec") or {}).get("jobTemplate") or {}
    template_meta = template.get("metadata") or {}
    for field in _FORBIDDEN_TEMPLATE_FIELDS:
        if template_meta.get(field):
            raise kopf.AdmissionError(
                f"spec.jobTemplate.metadata.{field}: must not be set: the operator names each "
                "Job and creates it in the ReactiveJob's namespace",
                code=422,
            )
    identified = {
        **meta,
        "uid": meta.get("uid") or _PLACEHOLDER_UID,
        "name": meta.get("name") or f"{meta.get('generateName') or 'reactivejob-'}xxxxx",
        "generation": meta.get("generation") or 1,
    }
    reactive_job = ReactiveJob.model_validate({**body, "metadata": identified})
    job = desired_job(reactive_job, template, template_hash(template))
    try:
        await jobs.create(job, dry_run=True)
    except AlreadyExists:
        return  # a Job of that name exists: the template itself is fine
    except ApiError as refused:
        raise kopf.AdmissionError(
            f"spec.jobTemplate is invalid: a Job made from it would be rejected: {refused.message}",
            code=422,
        ) from refused

"""What the ``decide()`` tests build their inputs from and read their Plans with.

One ReactiveJob builder, ``rj()``, and one Job builder, ``job()``, each with the defaults the
tests share: the ReactiveJob ``migrate`` in ``team-a`` (uid ``UID``) whose jobTemplate is
``TEMPLATE`` (hash ``DIGEST``), decided at ``NOW``; ``decided()``, decide() with the Pods of
failed runs read as the executor reads them. Beside them the small readers of a Plan
(``created``, ``conditions``, ``by_type``, ``history``) and ``true()``, a True Job condition.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from reactivejob.core.decide import Plan, decide
from reactivejob.core.failure import NOTHING_FOUND
from reactivejob.core.naming import template_hash
from reactivejob_api import ReactiveJob, ReactiveJobRunFailure, ReactiveJobStatus, vocabulary
from reactivejob_api.models import Job
from tests.samples import reactive_job, simple_template

UID = "0b7c5b8e-1111-2222-3333-444455556666"
NOW = datetime.datetime(2026, 11, 26, 12, 0, 0, tzinfo=datetime.UTC)
NOW_WIRE = "2026-11-26T12:00:00Z"  # RFC 3339 in UTC, seconds precision, as metav1.Time writes it
DELETED_AT = "2026-11-26T11:00:00Z"
TEMPLATE = simple_template()
DIGEST = template_hash(TEMPLATE)
OLD = "0" * 64  # the hash of an older template

# When job() says its Job was made, started and finished: all before NOW.
CREATED = "2026-11-26T11:00:00Z"
STARTED = "2026-11-26T11:00:01Z"
FINISHED = "2026-11-26T11:00:09Z"


def rj(
    generation: int = 1,
    *,
    template: dict[str, Any] | None = None,
    spec: dict[str, Any] | None = None,
    rerun: str | None = None,
    finalizers: Sequence[str] = (vocabulary.FINALIZER,),
    deleted: str | None = None,
    status: dict[str, Any] | None = None,
) -> ReactiveJob:
    """The ReactiveJob at ``generation``: its jobTemplate is ``template`` (``TEMPLATE`` unless
    given), ``spec`` adds spec fields (concurrencyPolicy, suspend, ...), ``rerun`` is its rerun
    token, ``deleted`` its deletionTimestamp and ``status`` its stored status."""
    body = reactive_job("migrate", TEMPLATE if template is None else template, "team-a")
    body["metadata"].update(uid=UID, generation=generation, finalizers=list(finalizers))
    if rerun is not None:
        body["metadata"]["annotations"] = {vocabulary.ANNOTATION_RERUN: rerun}
    if deleted is not None:
        body["metadata"]["deletionTimestamp"] = deleted
    body["spec"].update(spec or {})
    if status is not None:
        body["status"] = status
    return ReactiveJob.model_validate(body)


def job(
    name: str,
    generation: int | str | None,
    digest: str | None = DIGEST,
    *,
    state: str | None = None,
    conditions: Sequence[dict[str, str]] | None = None,
    annotations: dict[str, str] | None = None,
    finalizers: Sequence[str] = (vocabulary.FINALIZER,),
    created: str = CREATED,
    controller: str | None = UID,
) -> Job:
    """A Job of the ReactiveJob, annotated as made for ``generation`` (written as given: a
    string is a garbled one; None leaves the annotation out) and the template hash ``digest``
    (None leaves it out), plus ``annotations``.

    ``state`` is what the job controller made of it: ``running``, ``Complete`` or ``Failed`` (with
    their start and completion times and the finishing condition), ``held`` (suspended by run
    control), or None (not started). ``conditions`` adds status conditions as given; a Job
    with neither has no status at all, as before the job controller first saw it.

    ``controller`` is the uid its controller ownerReference names: ours by default, None for
    none (a Job of the Go operator's), anything else for another object's."""
    ours = {vocabulary.ANNOTATION_GENERATION: generation, vocabulary.ANNOTATION_HASH: digest}
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": "team-a",
        "creationTimestamp": created,
        "annotations": {
            **{key: str(value) for key, value in ours.items() if value is not None},
            **(annotations or {}),
        },
    }
    if finalizers:
        metadata["finalizers"] = list(finalizers)
    if controller is not None:
        kind, owner = ("ReactiveJob", "migrate") if controller == UID else ("CronJob", "impostor")
        metadata["ownerReferences"] = [
            {"apiVersion": "v1", "kind": kind, "name": owner, "uid": controller, "controller": True}
        ]
    body: dict[str, Any] = {"metadata": metadata, "spec": {"template": {}}}
    status: dict[str, Any] = {}
    if state in ("Complete", "Failed"):
        status = {
            "startTime": STARTED,
            "completionTime": FINISHED if state == "Complete" else None,
            "conditions": [{"type": state, "status": "True", "lastTransitionTime": FINISHED}],
        }
    elif state == "running":
        status = {"startTime": STARTED, "active": 1}
    elif state == "held":
        body["spec"]["suspend"] = True
        metadata["annotations"][vocabulary.ANNOTATION_HELD] = "true"
    else:
        assert state is None, f"no such Job state: {state}"
    if conditions is not None:
        status["conditions"] = [*status.get("conditions", []), *conditions]
    if status:
        body["status"] = status
    return Job.model_validate(body)


def true(kind: str, reason: str | None = None, message: str | None = None) -> dict[str, str]:
    """A Job condition of type ``kind`` with status True, as the job controller writes it."""
    condition = {"type": kind, "status": "True"}
    if reason is not None:
        condition["reason"] = reason
    if message is not None:
        condition["message"] = message
    return condition


def decided(
    *args: Any, pods_say: dict[str, ReactiveJobRunFailure] | None = None, **kwargs: Any
) -> Plan:
    """``decide()`` as the executor calls it: when the Plan asks what the Pods of failed runs
    say, it is asked again with ``pods_say`` (by Job name; by default no Pod said anything)."""
    plan = decide(*args, **kwargs)
    if not plan.diagnose:
        return plan
    said = {name: (pods_say or {}).get(name, NOTHING_FOUND) for name in plan.diagnose}
    again = decide(*args, failures=said, **kwargs)
    assert not again.diagnose, "asked once per failed run"
    return again


def created(plan: Plan) -> Job:
    """The Job the Plan creates; there must be one."""
    assert plan.create is not None and plan.create.metadata is not None
    return plan.create


def created_name(plan: Plan) -> str:
    metadata = created(plan).metadata
    assert metadata is not None
    return str(metadata.name)


def annotations_of(job_: Job) -> dict[str, str]:
    assert job_.metadata is not None
    return dict(job_.metadata.annotations or {})


def conditions(plan: Plan) -> dict[str, str]:
    """The status of each condition the Plan writes, by type."""
    assert plan.status is not None and plan.status.conditions is not None
    return {c.type: c.status for c in plan.status.conditions}


def by_type(status: ReactiveJobStatus | None) -> dict[str, dict[str, Any]]:
    """Each condition of ``status`` as written on the wire (without its type), by type."""
    assert status is not None and status.conditions is not None
    return {
        c.type: c.model_dump(by_alias=True, exclude_none=True, exclude={"type"})
        for c in status.conditions
    }


def history(plan: Plan) -> list[dict[str, Any]]:
    """The Plan's status.history as written on the wire, newest first."""
    assert plan.status is not None
    return [
        e.model_dump(by_alias=True, exclude_none=True, mode="json")
        for e in plan.status.history or []
    ]

"""The Job ``decide()`` creates, as it goes on the wire: its name, the template hash, the
labels, annotations, finalizers and owner reference that tie it to its ReactiveJob (as the Go
operator's did), and which template fields it keeps or refuses. Each expectation comes from
the contract (Go-operator compatibility, Kubernetes conventions, the README); no cluster, no
mocks."""

from __future__ import annotations

import hashlib
from typing import Any

from reactivejob.core.decide import decide
from reactivejob.core.naming import job_name, template_hash
from reactivejob_api.models import Job
from reactivejob_api.vocabulary import (
    ANNOTATION_GENERATION,
    ANNOTATION_HASH,
    ANNOTATION_RUN,
    ANNOTATION_RUN_CAUSE,
    FINALIZER,
    LABEL_CONTROLLER_NAME,
    LABEL_CONTROLLER_UID,
)
from tests.samples import simple_template
from tests.unit.builders import NOW, UID, rj


def test_the_created_job_carries_the_go_operators_ties_and_the_template() -> None:
    template = simple_template(note="kept")
    template["metadata"].update(
        # Ours must win over look-alikes in the template: they are how Jobs are found again.
        labels={"team": "a", LABEL_CONTROLLER_UID: "forged"},
        finalizers=["example.com/keep", FINALIZER],
    )
    plan = decide(rj(template=template), template, [], NOW)
    assert plan.create is not None
    # What the typed client sends (typedkube.wire.body_of): by alias, unset fields left out.
    wire = plan.create.model_dump(by_alias=True, exclude_unset=True, mode="json")
    assert wire == {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "migrate-87phg",
            "namespace": "team-a",
            "labels": {"team": "a", LABEL_CONTROLLER_UID: UID, LABEL_CONTROLLER_NAME: "migrate"},
            "annotations": {
                "note": "kept",
                ANNOTATION_GENERATION: "1",
                ANNOTATION_HASH: template_hash(template),
                # Added by run control; not one the Go operator set, and listed in the README.
                ANNOTATION_RUN_CAUSE: "Created",
                ANNOTATION_RUN: "1",
            },
            # Ours exactly once, however often the template names it.
            "finalizers": ["example.com/keep", FINALIZER],
            # controllerutil.SetControllerReference: blockOwnerDeletion makes a foreground
            # delete of the ReactiveJob wait for its Jobs.
            "ownerReferences": [
                {
                    "apiVersion": "batch.cs.sap.com/v1alpha1",
                    "kind": "ReactiveJob",
                    "name": "migrate",
                    "uid": UID,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": template["spec"],
    }


def test_template_labels_annotations_and_finalizers_are_kept() -> None:
    template = simple_template(note="kept")
    template["metadata"].update(labels={"team": "a"}, finalizers=["example.com/keep"])
    plan = decide(rj(template=template), template, [], NOW)
    assert plan.create is not None
    meta = plan.create.metadata
    assert meta is not None
    assert meta.labels is not None and meta.labels["team"] == "a"
    assert meta.annotations is not None and meta.annotations["note"] == "kept"
    assert meta.finalizers == ["example.com/keep", FINALIZER]


def test_template_name_generate_name_and_namespace_never_reach_the_job() -> None:
    # The CRD's CEL rules refuse these, but objects stored under an older CRD (the Go
    # operator's, before a takeover) can still carry them.
    template = simple_template()
    template["metadata"] = {"name": "x", "generateName": "x-", "namespace": "elsewhere"}
    plan = decide(rj(template=template), template, [], NOW)
    assert plan.create is not None and plan.create.metadata is not None
    meta = plan.create.metadata
    assert (meta.name, meta.generate_name, meta.namespace) == ("migrate-87phg", None, "team-a")


# --- the template hash and the Job's name ------------------------------------------------------


def test_the_hash_annotation_is_sha256_of_compact_sorted_utf8_json() -> None:
    # The annotation outlives operator versions: Jobs made by an older release must still be
    # recognised as made for the current template, so the canonical form is fixed.
    template = {"b": [1, {"c": "ä"}], "a": 1}
    canonical = '{"a":1,"b":[1,{"c":"ä"}]}'
    assert template_hash(template) == hashlib.sha256(canonical.encode()).hexdigest()


def test_hash_is_canonical_and_names_are_deterministic_and_short() -> None:
    assert template_hash({"a": 1, "b": [1, {"c": "ä"}]}) == template_hash(
        {"b": [1, {"c": "ä"}], "a": 1}
    )
    assert template_hash({"a": 1}) != template_hash({"a": 2})
    assert job_name("x", UID, 1) == job_name("x", UID, 1)
    assert job_name("x", UID, 1) != job_name("x", UID, 2)
    long = job_name("a" * 60 + "." + "b" * 100, UID, 7)
    assert len(long) <= 63
    assert long[-6] == "-"
    assert long[-7] not in "-."


def test_job_names_are_the_reactive_job_name_and_a_stable_suffix() -> None:
    # sha256("<uid>/<generation>"), first 8 bytes big-endian, 5 base-27 digits (least
    # significant first) in the apiserver's generateName alphabet.
    assert job_name("migrate", UID, 1) == "migrate-87phg"
    assert job_name("migrate", UID, 2) == "migrate-w4tnk"


def test_a_long_name_is_cut_to_63_characters_without_a_trailing_separator() -> None:
    suffix = job_name("x", UID, 1).removeprefix("x-")
    longest_kept = "a" * 57  # 63 - len("-") - 5
    assert job_name(longest_kept, UID, 1) == f"{longest_kept}-{suffix}"
    assert job_name("a" * 56 + "-" + "b" * 10, UID, 1) == "a" * 56 + f"-{suffix}"


def _containers(job: Job | None) -> dict[str, dict[str, Any]]:
    """The Job's containers and init containers as sent on the wire, by name."""
    assert job is not None
    pod = job.model_dump(by_alias=True, exclude_unset=True, mode="json")["spec"]["template"]
    spec = pod["spec"]
    return {c["name"]: c for kind in ("initContainers", "containers") for c in spec.get(kind, [])}


def test_failure_log_falls_back_to_logs_where_no_policy_is_set_and_changes_no_name() -> None:
    template = simple_template()
    pod = template["spec"]["template"]["spec"]
    pod["initContainers"] = [{"name": "setup", "image": "alpine"}]
    pod["containers"].append({"name": "own", "image": "alpine", "terminationMessagePolicy": "File"})
    plain = decide(rj(template=template), template, [], NOW).create
    opted = decide(rj(template=template, spec={"failureLog": True}), template, [], NOW).create
    policies = {n: c.get("terminationMessagePolicy") for n, c in _containers(opted).items()}
    fallback = "FallbackToLogsOnError"
    assert policies == {"setup": fallback, "run": fallback, "own": "File"}
    # Without the field the Job is exactly as before; with it, only those policies differ.
    assert {n: c.get("terminationMessagePolicy") for n, c in _containers(plain).items()} == {
        "setup": None,
        "run": None,
        "own": "File",
    }
    assert plain is not None and opted is not None
    assert plain.metadata is not None and opted.metadata is not None
    assert plain.metadata.name == opted.metadata.name
    assert plain.metadata.annotations == opted.metadata.annotations  # the same template hash
    assert "terminationMessagePolicy" not in template["spec"]["template"]["spec"]["containers"][0]


def test_turning_failure_log_on_re_runs_nothing() -> None:
    template = simple_template()
    first = decide(rj(1, template=template), template, [], NOW).create
    assert first is not None and first.metadata is not None
    made = first.model_copy(deep=True)
    assert made.metadata is not None
    made.metadata.creation_timestamp = "2026-11-26T11:00:00Z"
    later = decide(rj(2, template=template, spec={"failureLog": True}), template, [made], NOW)
    assert later.create is None

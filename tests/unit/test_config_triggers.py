"""Config triggers, pure: what a pod template references, the config hash, and ``decide()``
with what is known of the references."""

from __future__ import annotations

import copy
import hashlib
import hmac
from typing import Any

from reactivejob.core.config_refs import (
    ABSENT,
    CONFIG_MAP,
    SECRET,
    ConfigView,
    Reference,
    config_view,
    data_digest,
    references,
)
from reactivejob.core.decide import decide
from reactivejob.core.naming import canonical_json, job_name
from reactivejob_api.vocabulary import ANNOTATION_CONFIG_HASH, ANNOTATION_RUN, ANNOTATION_RUN_CAUSE
from tests.unit.builders import DIGEST, NOW, OLD, TEMPLATE, UID, annotations_of, created, job, rj

OPTED = {"rerunOnConfigChange": True}


def pod_template(pod: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"template": {"spec": pod}}}


def test_every_kind_of_reference_is_found_once_in_canonical_order() -> None:
    pod = {
        "volumes": [
            {"name": "a", "configMap": {"name": "settings"}},
            {"name": "b", "secret": {"secretName": "tls", "optional": True}},
            {"name": "c", "projected": {"sources": [
                {"configMap": {"name": "projected-cm"}},
                {"secret": {"name": "projected-secret", "optional": True}},
                {"serviceAccountToken": {"path": "token"}},
            ]}},
            {"name": "d", "emptyDir": {}},
        ],
        "initContainers": [{"name": "init", "envFrom": [{"secretRef": {"name": "db"}}]}],
        "containers": [
            {
                "name": "run",
                "envFrom": [{"configMapRef": {"name": "settings", "optional": True}}],
                "env": [
                    {"name": "A", "value": "plain"},
                    {"name": "B", "valueFrom": {"secretKeyRef": {"name": "tls", "key": "k"}}},
                    {"name": "C", "valueFrom": {"configMapKeyRef": {
                        "name": "keys", "key": "k", "optional": True}}},
                    {"name": "D", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                ],
            }
        ],
    }  # fmt: skip
    assert references(pod_template(pod)) == (
        Reference(CONFIG_MAP, "keys", optional=True),
        Reference(CONFIG_MAP, "projected-cm", optional=False),
        Reference(CONFIG_MAP, "settings", optional=False),  # one use is required
        Reference(SECRET, "db", optional=False),
        Reference(SECRET, "projected-secret", optional=True),
        Reference(SECRET, "tls", optional=False),
    )
    assert references(pod_template({"containers": [{"name": "x"}]})) == ()


def test_the_digest_follows_data_not_metadata() -> None:
    base: dict[str, Any] = {
        "metadata": {"name": "s", "labels": {"a": "1"}},
        "data": {"k": "dmFsdWU="},
    }
    relabelled = copy.deepcopy(base)
    relabelled["metadata"]["labels"] = {"a": "2"}
    changed = copy.deepcopy(base)
    changed["data"]["k"] = "b3RoZXI="
    assert data_digest(base) == data_digest(relabelled) != data_digest(changed)
    assert data_digest({"binaryData": {"k": "AA=="}}) != data_digest({"data": {"k": "AA=="}})


def test_a_missing_required_reference_holds_and_a_missing_optional_one_counts_as_empty() -> None:
    required, optional = Reference(SECRET, "db", False), Reference(CONFIG_MAP, "extra", True)
    held = config_view((optional, required), {optional: "x", required: None})
    assert held.hash is None and held.missing == (required,)
    absent = config_view((optional,), {optional: None})
    empty = config_view((optional,), {optional: ABSENT})
    assert absent.hash is not None and absent.hash == empty.hash
    assert (
        config_view((required,), {required: "1"}).hash
        != config_view((required,), {required: "2"}).hash
    )


KEY = b"k" * 32


def test_a_keyed_config_hash_is_an_hmac_only_the_keys_holder_can_compute() -> None:
    secret = Reference(SECRET, "pin", False)
    digests = {secret: data_digest({"data": {"pin": "MTIzNA=="}})}
    unkeyed, keyed = config_view((secret,), digests), config_view((secret,), digests, KEY)
    entries = canonical_json([[SECRET, "pin", digests[secret]]])
    assert keyed.hash == hmac.new(KEY, entries.encode(), hashlib.sha256).hexdigest()
    # Whoever reads the published hash and guesses the PIN can compute only the unkeyed one.
    assert keyed.hash != unkeyed.hash
    assert config_view((secret,), digests, b"o" * 32).hash != keyed.hash
    assert keyed.matches(str(unkeyed.hash)) and not unkeyed.matches(str(keyed.hash))


def test_turning_the_key_on_reruns_nothing_and_new_runs_carry_the_keyed_hash() -> None:
    secret = Reference(SECRET, "pin", False)
    digests = {secret: "d1"}
    before = config_view((secret,), digests)
    ran = job("migrate-a", 2, annotations={ANNOTATION_CONFIG_HASH: str(before.hash)},
              state="Complete")  # fmt: skip
    keyed = config_view((secret,), digests, KEY)
    assert decide(rj(2, spec=OPTED), TEMPLATE, [ran], NOW, config=keyed).create is None
    changed = config_view((secret,), {secret: "d2"}, KEY)
    made = created(decide(rj(2, spec=OPTED), TEMPLATE, [ran], NOW, config=changed))
    assert annotations_of(made)[ANNOTATION_CONFIG_HASH] == changed.hash


def view(hash_: str) -> ConfigView:
    return ConfigView(hash_)


def test_the_first_run_carries_the_config_hash_in_its_name_and_annotation() -> None:
    plan = decide(rj(2, spec=OPTED), TEMPLATE, [], NOW, config=view("c1"))
    made = created(plan)
    assert made.metadata is not None
    named = job_name("migrate", UID, 2, config_hash="c1", run=1)
    assert made.metadata.name == named != job_name("migrate", UID, 2)
    assert annotations_of(made)[ANNOTATION_CONFIG_HASH] == "c1"


def test_a_config_change_starts_one_run_and_the_same_config_none() -> None:
    ran = job("migrate-a", 2, annotations={ANNOTATION_CONFIG_HASH: "c1"}, state="Complete")
    assert decide(rj(2, spec=OPTED), TEMPLATE, [ran], NOW, config=view("c1")).create is None
    plan = decide(rj(2, spec=OPTED), TEMPLATE, [ran], NOW, config=view("c2"))
    made = created(plan)
    assert annotations_of(made)[ANNOTATION_RUN_CAUSE] == "ConfigChanged"
    assert plan.status is not None and plan.status.history is not None
    assert plan.status.history[0].cause == "ConfigChanged"
    assert plan.status.history[0].config_hash == "c2"


def test_config_changing_back_is_a_run_of_its_own() -> None:
    first = job("migrate-a", 2, annotations={ANNOTATION_CONFIG_HASH: "c1", ANNOTATION_RUN: "1"})
    second = job("migrate-b", 2, annotations={ANNOTATION_CONFIG_HASH: "c2", ANNOTATION_RUN: "2"})
    plan = decide(rj(2, spec=OPTED), TEMPLATE, [first, second], NOW, config=view("c1"))
    back = created(plan)
    assert back.metadata is not None
    assert back.metadata.name == job_name("migrate", UID, 2, config_hash="c1", run=3)
    assert annotations_of(back)[ANNOTATION_RUN] == "3"


def test_a_template_change_with_new_config_is_a_template_change() -> None:
    ran = job("migrate-a", 1, OLD, annotations={ANNOTATION_CONFIG_HASH: "c1"})
    plan = decide(rj(2, spec=OPTED), TEMPLATE, [ran], NOW, config=view("c2"))
    assert annotations_of(created(plan))[ANNOTATION_RUN_CAUSE] == "TemplateChanged"


def test_missing_config_holds_the_run_and_names_the_object() -> None:
    missing = ConfigView(None, (Reference(SECRET, "db-credentials", False),))
    plan = decide(rj(2, spec=OPTED), TEMPLATE, [], NOW, config=missing)
    assert plan.create is None
    assert plan.status is not None and plan.status.state == "Processing"
    ready = next(c for c in plan.status.conditions or [] if c.type == "Ready")
    assert ready.reason == "WaitingForConfig"
    assert ready.message == "waiting for Secret db-credentials: not found, and not optional"
    assert [e.reason for e in plan.events] == ["WaitingForConfig"]


def test_config_that_cannot_be_known_gets_a_stalled_status_and_a_warning() -> None:
    newest = job("migrate-a", 2, state="Complete")
    problem = ConfigView(None, problem="cannot watch secrets in namespace team-a: enable it")
    plan = decide(rj(2, spec=OPTED), TEMPLATE, [newest], NOW, config=problem)
    assert plan.create is None and plan.release == ()  # the newest Job stays protected
    assert plan.status is not None and plan.status.state == "Error"
    kinds = {c.type: c.status for c in plan.status.conditions or []}
    assert kinds["Stalled"] == "True"
    assert [(e.type, e.message) for e in plan.events] == [("Warning", problem.problem)]


def test_a_job_made_before_opting_in_is_adopted_with_todays_config() -> None:
    before = job("migrate-a", 1, DIGEST, state="Complete")  # no config annotation
    adopted = decide(rj(2, spec=OPTED), TEMPLATE, [before], NOW, config=view("c1"))
    assert adopted.create is None
    assert adopted.status is not None and adopted.status.history is not None
    assert adopted.status.history[0].config_hash == "c1"
    status = adopted.status.model_dump(by_alias=True, exclude_none=True)
    later = rj(2, spec=OPTED, status=status)
    assert decide(later, TEMPLATE, [before], NOW, config=view("c1")).create is None
    assert created(decide(later, TEMPLATE, [before], NOW, config=view("c2"))) is not None


def test_an_object_without_the_field_ignores_config() -> None:
    newest = job("migrate-a", 2, state="Complete")
    assert decide(rj(2), TEMPLATE, [newest], NOW).create is None


def test_a_held_change_keeps_the_newest_job_protected() -> None:
    newest = job("migrate-a", 1, OLD, state="Complete")
    plan = decide(rj(2, spec={"suspend": True}), TEMPLATE, [newest], NOW)
    assert plan.create is None and plan.release == ()

"""Config triggers on the real API server: a ReactiveJob with spec.rerunOnConfigChange re-runs
when the data of a ConfigMap or Secret its pod template uses changes, and only then."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import random
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from reactivejob.core.config_refs import data_digest
from reactivejob.core.naming import canonical_json
from reactivejob.engine.config_cache import TRIGGERS_OFF
from reactivejob_api.vocabulary import ANNOTATION_CONFIG_HASH, ANNOTATION_RUN_CAUSE
from testbed import ControlPlane
from testbed.harness import COMPLETE, OUTCOME_ANNOTATION, OperatorProcess
from testbed.harness.paused_operator import AFTER_JOB_CREATE, PAUSED_MARK
from testbed.processes import peak_rss_mib
from tests.integration.kube_helpers import Cluster, as_json, conditions, eventually
from tests.samples import reactive_job, simple_template

MARKER = "s3cr3t-marker-5f1e"  # a Secret value that must appear nowhere


@pytest.fixture
def triggered(
    control_plane: ControlPlane, cluster: Cluster, tmp_path: Path
) -> Iterator[OperatorProcess]:
    process = OperatorProcess(
        control_plane.kubeconfig, [cluster.namespace], tmp_path / "operator", ["--config-triggers"]
    )
    yield process
    process.stop()


def reading(name: str, *, opted: bool = True, optional: bool = False) -> dict[str, Any]:
    """A ReactiveJob whose Pods mount ConfigMap ``settings`` and read key ``password`` of
    Secret ``db`` (optional or not)."""
    template = simple_template(**{OUTCOME_ANNOTATION: COMPLETE})
    pod = template["spec"]["template"]["spec"]
    pod["volumes"] = [{"name": "settings", "configMap": {"name": "settings"}}]
    secret_ref = {"name": "db", "key": "password", "optional": optional}
    pod["containers"][0]["env"] = [{"name": "PASSWORD", "valueFrom": {"secretKeyRef": secret_ref}}]
    body = reactive_job(name, template)
    if opted:
        body["spec"]["rerunOnConfigChange"] = True
    return body


def put_config_map(cluster: Cluster, name: str, data: dict[str, str], **labels: str) -> None:
    body: Any = {"metadata": {"name": name, "labels": labels}, "data": data}
    if cluster.core.list_namespaced_config_map(
        cluster.namespace, field_selector=f"metadata.name={name}"
    ).items:
        cluster.core.replace_namespaced_config_map(name, cluster.namespace, body)
    else:
        cluster.core.create_namespaced_config_map(cluster.namespace, body)


def put_secret(cluster: Cluster, name: str, password: str, **labels: str) -> None:
    body: Any = {"metadata": {"name": name, "labels": labels}, "stringData": {"password": password}}
    if cluster.core.list_namespaced_secret(
        cluster.namespace, field_selector=f"metadata.name={name}"
    ).items:
        cluster.core.replace_namespaced_secret(name, cluster.namespace, body)
    else:
        cluster.core.create_namespaced_secret(cluster.namespace, body)


def runs(cluster: Cluster, uid: str) -> list[dict[str, Any]]:
    return cluster.jobs(uid)


def settle(cluster: Cluster, name: str, jobs: int, uid: str) -> dict[str, Any]:
    """Until the object is Ready with exactly ``jobs`` Jobs, and stays so."""

    def settled() -> dict[str, Any] | None:
        obj = cluster.get(name)
        status = (obj or {}).get("status") or {}
        ran = len(status.get("history") or [])  # one entry per run: the status names them all
        done = status.get("state") == "Ready" and ran == jobs == len(runs(cluster, uid))
        return obj if done else None

    try:
        found: dict[str, Any] = eventually(settled, what=f"{name} Ready after {jobs} runs")
    except AssertionError as error:
        names = [j["metadata"]["name"] for j in runs(cluster, uid)]
        status = json.dumps((cluster.get(name) or {}).get("status"))
        raise AssertionError(f"{error}; Jobs {names}, status {status}") from None
    return found


def test_data_changes_rerun_and_nothing_else_does(
    cluster: Cluster, triggered: OperatorProcess
) -> None:
    put_config_map(cluster, "settings", {"mode": "a"})
    put_config_map(cluster, "unrelated", {"x": "1"})
    put_secret(cluster, "db", "one")
    triggered.start()
    uid = cluster.create(reading("reader"))["metadata"]["uid"]
    plain = cluster.create(reading("plain", opted=False))["metadata"]["uid"]
    settle(cluster, "reader", 1, uid)
    settle(cluster, "plain", 1, plain)

    put_config_map(cluster, "settings", {"mode": "b"})  # used through a volume
    obj = settle(cluster, "reader", 2, uid)
    assert obj["status"]["history"][0]["cause"] == "ConfigChanged"
    put_secret(cluster, "db", "two")  # used through secretKeyRef
    obj = settle(cluster, "reader", 3, uid)
    newest = cluster.job(obj["status"]["currentJobName"])
    assert newest is not None
    assert newest["metadata"]["annotations"][ANNOTATION_RUN_CAUSE] == "ConfigChanged"
    assert (
        newest["metadata"]["annotations"][ANNOTATION_CONFIG_HASH]
        == (obj["status"]["history"][0]["configHash"])
    )

    # Neither an unrelated ConfigMap nor labels alone make a run; the label change of the
    # Secret is followed by a data change, whose single run proves the operator saw both.
    put_config_map(cluster, "unrelated", {"x": "2"})
    put_config_map(cluster, "settings", {"mode": "b"}, touched="yes")
    put_secret(cluster, "db", "two", touched="yes")
    put_config_map(cluster, "settings", {"mode": "c"})
    settle(cluster, "reader", 4, uid)
    assert len(runs(cluster, uid)) == 4
    # The object without the field saw every change and ran nothing.
    assert len(runs(cluster, plain)) == 1
    assert "ConfigChanged" not in json.dumps(cluster.get("plain"))


def test_a_missing_secret_holds_the_run_until_it_exists(
    cluster: Cluster, triggered: OperatorProcess
) -> None:
    put_config_map(cluster, "settings", {"mode": "a"})
    triggered.start()
    uid = cluster.create(reading("waiting"))["metadata"]["uid"]
    held = eventually(
        lambda: (
            (o := cluster.get("waiting"))
            and conditions(o).get("Ready", {}).get("reason") == "WaitingForConfig"
            and o
        ),
        what="the run held for its Secret",
    )
    assert held["status"]["state"] == "Processing"
    assert conditions(held)["Ready"]["message"] == (
        "waiting for Secret db: not found, and not optional"
    )
    assert "WaitingForConfig" in {e["reason"] for e in cluster.events("waiting")}
    assert runs(cluster, uid) == []
    put_secret(cluster, "db", "one")
    settle(cluster, "waiting", 1, uid)
    # An optional reference that is missing counts as empty: the run goes ahead.
    cluster.core.delete_namespaced_secret("db", cluster.namespace)
    optional = cluster.create(reading("optional", optional=True))["metadata"]["uid"]
    settle(cluster, "optional", 1, optional)
    # Deleting the required Secret holds "waiting" again, with no run meanwhile.
    eventually(
        lambda: (
            conditions(cluster.get("waiting") or {}).get("Ready", {}).get("reason")
            == "WaitingForConfig"
        ),
        what="the run held again for its Secret",
    )
    assert len(runs(cluster, uid)) == 1


def test_sigkill_during_a_config_triggered_run_leaves_no_duplicate(
    cluster: Cluster, triggered: OperatorProcess
) -> None:
    put_config_map(cluster, "settings", {"mode": "a"})
    put_secret(cluster, "db", "one")
    triggered.start()
    uid = cluster.create(reading("crash"))["metadata"]["uid"]
    settle(cluster, "crash", 1, uid)
    triggered.stop()
    triggered.pause_at = AFTER_JOB_CREATE
    triggered.start()
    put_config_map(cluster, "settings", {"mode": "b"})
    eventually(
        lambda: f"{PAUSED_MARK} {AFTER_JOB_CREATE}" in triggered.logs(),
        what="the operator paused after creating the config-triggered Job",
    )
    triggered.kill()
    assert len(runs(cluster, uid)) == 2
    triggered.pause_at = None
    triggered.start()
    obj = settle(cluster, "crash", 2, uid)
    assert obj["status"]["history"][0]["cause"] == "ConfigChanged"
    assert len(runs(cluster, uid)) == 2


def test_secret_data_appears_in_no_log_event_or_status(
    cluster: Cluster, triggered: OperatorProcess
) -> None:
    put_config_map(cluster, "settings", {"mode": "a"})
    put_secret(cluster, "db", MARKER)
    triggered.start()  # logs at DEBUG
    uid = cluster.create(reading("quiet"))["metadata"]["uid"]
    settle(cluster, "quiet", 1, uid)
    put_secret(cluster, "db", MARKER + "-2")
    settle(cluster, "quiet", 2, uid)
    encoded = base64.b64encode(MARKER.encode()).decode()
    seen = {
        "operator log": triggered.logs(),
        "status": json.dumps(cluster.get("quiet")),
        "events": json.dumps(cluster.events("quiet")),
        "jobs": json.dumps(runs(cluster, uid)),
        "metrics": triggered.metrics(),
    }
    assert "DEBUG" in seen["operator log"]
    for where, text in seen.items():
        assert MARKER not in text and encoded[:16] not in text, where


def test_without_config_triggers_an_opted_in_object_says_how_to_enable_them(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    put_config_map(cluster, "settings", {"mode": "a"})
    put_secret(cluster, "db", "one")
    cluster.create(reading("opted"))
    plain = cluster.create(reading("plain", opted=False))["metadata"]["uid"]
    obj = cluster.wait_state("opted", "Error")
    assert conditions(obj)["Stalled"]["message"] == TRIGGERS_OFF
    assert cluster.jobs(obj["metadata"]["uid"]) == []
    settle(cluster, "plain", 1, plain)


def test_a_namespace_of_big_secrets_is_listed_in_bounded_memory(
    cluster: Cluster, triggered: OperatorProcess
) -> None:
    """Helm keeps each release in a Secret of up to 1 MiB; the Secret cache keeps only digests,
    but a list page arrives whole. 100 of 900 KiB: at 500 to a page, all come at once."""
    blob = base64.b64encode(os.urandom(900 * 1024 * 3 // 4)).decode()
    for index in range(100):
        cluster.core.create_namespaced_secret(
            cluster.namespace,
            client.V1Secret(
                metadata=client.V1ObjectMeta(name=f"release-{index}"), data={"release": blob}
            ),
        )
    triggered.start(timeout=120)
    listed = 'reactivejob_operator_cache_objects{kind="Secret"} 100.0'
    eventually(lambda: listed in triggered.metrics(), timeout=120, what="every Secret listed")
    process = triggered.process
    assert process is not None
    peak = peak_rss_mib(process.pid)
    print(f"peak RSS with 100 Secrets of 900 KiB: {peak:.0f} MiB")
    assert peak < 200, f"{peak:.0f} MiB"  # the chart's limit is 256 Mi; idle it is ~100 MiB


def test_with_a_key_the_published_config_hash_is_keyed_and_the_key_never_shown(
    cluster: Cluster, triggered: OperatorProcess, tmp_path: Path
) -> None:
    """The hash on the Job and in the history is an HMAC: reading it and guessing the Secret
    (a PIN) no longer lets anyone confirm the guess offline."""
    key = "".join(random.choices(string.ascii_letters, k=64))
    key_file = tmp_path / "config-hash-key"
    key_file.write_text(key + "\n")
    triggered.extra_args.append(f"--config-hash-key-file={key_file}")
    put_config_map(cluster, "settings", {"mode": "a"})
    put_secret(cluster, "db", "1234")
    triggered.start()
    uid = cluster.create(reading("keyed"))["metadata"]["uid"]
    obj = settle(cluster, "keyed", 1, uid)
    published = runs(cluster, uid)[0]["metadata"]["annotations"][ANNOTATION_CONFIG_HASH]
    assert obj["status"]["history"][0]["configHash"] == published
    # What anyone can compute from a guess of the PIN, and what only the key's holder can.
    settings = as_json(
        cluster.core.read_namespaced_config_map("settings", cluster.namespace), cluster.api
    )
    secret = as_json(cluster.core.read_namespaced_secret("db", cluster.namespace), cluster.api)
    entries = canonical_json([["ConfigMap", "settings", data_digest(settings)],
                              ["Secret", "db", data_digest(secret)]])  # fmt: skip
    assert published != hashlib.sha256(entries.encode()).hexdigest()
    assert published == hmac.new(key.encode(), entries.encode(), hashlib.sha256).hexdigest()
    for where, text in (("operator log", triggered.logs()), ("status", json.dumps(obj))):
        assert key not in text, where

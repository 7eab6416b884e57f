"""The Helm chart as helm alone sees it: lint, the values schema, and what the chart renders
(RBAC, arguments, names). The tests that need the API server are in
tests/integration/test_chart.py."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from testbed.versions import kubernetes_version
from tests.chart import rbac_contract as contract
from tests.chart.rbac_contract import Rights, from_rules, leader_election
from tests.chart.rendering import CHART, CI_VALUES, IMAGE, render, run_helm


def test_lint_is_clean(helm: Path) -> None:
    out = run_helm(helm, "lint", "--strict", str(CHART), *IMAGE)
    assert "0 chart(s) failed" in out


def test_no_image_stops_the_install_and_says_how_to_build_one(helm: Path) -> None:
    """No image is published: a default install must not end in ImagePullBackOff."""
    result = subprocess.run(
        [str(helm), "template", "x", str(CHART)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "image.repository is not set: no image of reactivejob-operator is published yet" in (
        result.stderr
    ), result.stderr
    assert "--set image.repository=REGISTRY/reactivejob-operator" in result.stderr


@pytest.mark.parametrize("bad", ["replicaCount=two", "image.pullPolicy=Sometimes", "noSuchValue=1"])
def test_bad_values_fail_with_a_clear_message(helm: Path, bad: str) -> None:
    result = subprocess.run(
        [str(helm), "template", "x", str(CHART), *IMAGE, "--set", bad],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr, result.stderr


@pytest.mark.parametrize("values", CI_VALUES, ids=[p.stem for p in CI_VALUES])
def test_rendered_rbac_is_the_contract(helm: Path, values: Path) -> None:
    """Every values variant renders exactly the contract's rights for the ServiceAccount
    (the installed test in tests/integration sees the defaults only): no Lease rights without
    leader election, reconcile rights in each watched namespace and nowhere else."""
    release = "rendered"
    documents = render(helm, values, release)
    chosen = yaml.safe_load(values.read_text()) or {}
    watch = chosen.get("watchNamespaces") or []
    election = chosen.get("leaderElection") or {}
    expected: dict[str | None, Rights] = {}
    reconciling = contract.RECONCILING
    if (chosen.get("configTriggers") or {}).get("enabled"):
        reconciling |= contract.CONFIG_TRIGGERS
    if (chosen.get("kueue") or {}).get("enabled"):
        reconciling |= contract.KUEUE
    if watch:
        expected |= {watched: reconciling for watched in watch}
    else:
        expected[None] = reconciling
    metrics = chosen.get("metrics") or {}
    if metrics.get("enabled", True) and metrics.get("secure", True):
        expected[None] = expected.get(None, Rights()) | contract.METRICS_AUTH
    if election.get("enabled", True):
        lease = leader_election(election["id"]) if "id" in election else leader_election()
        expected[release] = expected.get(release, Rights()) | lease
    granted = _rendered_rights(documents)
    assert granted.keys() == expected.keys(), (values.name, sorted(granted, key=str))
    for where, wanted in expected.items():
        assert granted[where] == wanted, (
            f"{values.name}, {where}:\n{granted[where].difference(wanted)}"
        )


def test_config_triggers_pass_the_flag_only_when_enabled(helm: Path) -> None:
    def args(values: str) -> list[str]:
        documents = render(helm, CHART / "ci" / values, "rendered")
        deployment = next(d for d in documents if d["kind"] == "Deployment")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        return list(container["args"])

    assert "--config-triggers" in args("config-triggers-values.yaml")
    assert "--config-triggers" not in args("default-values.yaml")


def test_kueue_passes_its_flags_only_when_enabled(helm: Path) -> None:
    def args(values: str) -> list[str]:
        documents = render(helm, CHART / "ci" / values, "rendered")
        deployment = next(d for d in documents if d["kind"] == "Deployment")
        return list(deployment["spec"]["template"]["spec"]["containers"][0]["args"])

    assert {"--kueue", "--kueue-manages-all-jobs"} <= set(args("kueue-values.yaml"))
    assert not {"--kueue", "--kueue-manages-all-jobs"} & set(args("default-values.yaml"))


def test_config_triggers_come_with_a_generated_key_for_the_config_hash(helm: Path) -> None:
    def rendered(values: str) -> tuple[list[str], list[dict[str, Any]]]:
        documents = render(helm, CHART / "ci" / values, "rendered")
        deployment = next(d for d in documents if d["kind"] == "Deployment")
        pod = deployment["spec"]["template"]["spec"]
        keys = [d for d in documents if d["kind"] == "Secret" and "config-hash-key" in
                d["metadata"]["name"]]  # fmt: skip
        mounted = [v for v in pod["volumes"] if v["name"] == "config-hash-key"]
        assert len(mounted) == len(keys)
        return list(pod["containers"][0]["args"]), keys

    args, keys = rendered("config-triggers-values.yaml")
    flag = "--config-hash-key-file=/etc/reactivejob-operator/config-hash-key/key"
    assert flag in args
    assert len(keys) == 1 and len(base64.b64decode(keys[0]["data"]["key"])) == 64
    plain, none = rendered("default-values.yaml")
    assert flag not in plain and none == []


def test_without_leader_election_an_upgrade_never_runs_two_operators(helm: Path) -> None:
    def strategy(*sets: str) -> dict[str, Any] | None:
        documents = render(helm, None, "rendered", *sets)
        deployment = next(d for d in documents if d["kind"] == "Deployment")
        found: dict[str, Any] | None = deployment["spec"].get("strategy")
        return found

    # A rolling update's surge Pod would reconcile beside the old one, with nothing to stop it.
    assert strategy("leaderElection.enabled=false") == {"type": "Recreate"}
    # With a Lease, the new Pod waits for it: rolling (the default) keeps the webhook served.
    assert strategy() is None
    assert strategy("leaderElection.enabled=true", "replicaCount=2") is None


def test_a_stopping_pod_serves_on_until_services_stop_sending_to_it(helm: Path) -> None:
    def pod(*sets: str) -> dict[str, Any]:
        documents = render(helm, None, "rendered", *sets)
        deployment = next(d for d in documents if d["kind"] == "Deployment")
        spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
        return spec

    default = pod()
    assert default["containers"][0]["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}
    assert default["terminationGracePeriodSeconds"] == 35  # the sleep, then kopf's shutdown
    off = pod("shutdownDelaySeconds=0")
    assert "lifecycle" not in off["containers"][0]
    assert off["terminationGracePeriodSeconds"] == 30


def _rendered_rights(documents: list[dict[str, Any]]) -> dict[str | None, Rights]:
    """The chart ServiceAccount's rights by namespace (None: cluster-wide), from the rendered
    bindings and the roles they name; a binding to a role the chart does not render (a
    built-in like edit) fails, since its rules are not in view."""
    account = next(d for d in documents if d["kind"] == "ServiceAccount")["metadata"]["name"]
    roles = {
        (d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d.get("rules") or []
        for d in documents
        if d["kind"] in ("Role", "ClusterRole")
    }
    granted: dict[str | None, Rights] = {}
    for binding in (d for d in documents if d["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        if not any(
            s["kind"] == "ServiceAccount" and s["name"] == account for s in binding["subjects"]
        ):
            continue
        where = binding["metadata"].get("namespace") if binding["kind"] == "RoleBinding" else None
        ref = binding["roleRef"]
        role = (ref["kind"], where if ref["kind"] == "Role" else None, ref["name"])
        assert role in roles, f"{binding['metadata']['name']} binds {role}, not rendered"
        # One list for both: a resource rule has no nonResourceURLs, and the reverse.
        granted[where] = granted.get(where, Rights()) | from_rules(roles[role], roles[role])
    return granted


def test_long_release_names_keep_every_name_within_63(helm: Path) -> None:
    long_release = "a" * 53  # Helm's own limit for release names
    args = ["template", long_release, str(CHART), "--kube-version", kubernetes_version(), *IMAGE]
    for values in CI_VALUES:
        documents = [d for d in yaml.safe_load_all(run_helm(helm, *args, "-f", str(values))) if d]
        too_long = [d["metadata"]["name"] for d in documents if len(d["metadata"]["name"]) > 63]
        assert not too_long, (values.name, too_long)

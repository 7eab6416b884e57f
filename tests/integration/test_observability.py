"""The chart's alerts and Grafana dashboard: the rules pass promtool and fire on the series they
are meant for, and every metric they read is one the real operator exports. What helm alone
shows (neither is rendered unless asked for, the rule's and the dashboard's objects) is in
tests/chart/test_observability_render.py.

promtool and promqlselectors (the Prometheus PromQL parser, to list the selectors of an
expression) are built once from the module pinned in tests/promtool/, by the same mechanism as
the control-plane binaries, into the same cache.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from testbed import binaries
from testbed.harness.kubelet import COMPLETE, FAILED, OUTCOME_ANNOTATION
from testbed.harness.operator_process import OperatorProcess
from testbed.versions import GoTool
from tests.chart.rendering import DASHBOARD, alert_rules, render
from tests.integration.kube_helpers import Cluster, eventually
from tests.samples import reactive_job, simple_template

PROMETHEUS = "github.com/prometheus/prometheus"
PROMTOOL_MODULE = Path(__file__).resolve().parents[1] / "promtool"
NAMESPACE = "observability"  # where the chart is rendered; only a label value here
ALERTS = {
    "ReactiveJobRunFailed",
    "ReactiveJobOperatorWorkQueueStuck",
    "ReactiveJobOperatorNoLeader",
    "ReactiveJobOperatorReconcileErrors",
}
# Labels Prometheus attaches to every scraped series (target labels of a ServiceMonitor
# scrape): the operator cannot export them, so matchers on them are not checked against it.
TARGET_LABELS = {"namespace", "job", "instance", "pod", "service", "endpoint", "container"}
# Label values a selector may use although this test cannot make the operator export them: a
# reconcile counts as an error only when the API server fails it, and nothing here breaks it.
NOT_PRODUCED_HERE = {("reactivejob_operator_reconciles_total", "result", "error")}
# Grafana's interval variables stand where PromQL wants a duration.
GRAFANA_DURATIONS = re.compile(r"\$\{?__(rate_interval|interval|range)\}?")
LABEL_VALUES = re.compile(r"^\s*label_values\((?P<selector>.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$")


class _PinnedInTests(GoTool):
    """A GoTool whose go.mod is tests/promtool/, not testbed's gomod/: a test-only tool."""

    @property
    def module_path(self) -> Path:
        return PROMTOOL_MODULE


PROMTOOL = _PinnedInTests("promtool", f"{PROMETHEUS}/cmd/promtool", "promtool", PROMETHEUS)
SELECTORS = _PinnedInTests("promqlselectors", "./promqlselectors", "promtool", PROMETHEUS)


class Matcher(TypedDict):
    label: str
    op: str
    value: str


class Selector(TypedDict):
    metric: str
    matchers: list[Matcher]


class Parsed(TypedDict, total=False):
    expr: str
    error: str
    selectors: list[Selector]


@pytest.fixture(scope="module")
def promtool() -> Path:
    return binaries.ensure_built(PROMTOOL)


@pytest.fixture(scope="module")
def selectors_tool() -> Path:
    return binaries.ensure_built(SELECTORS)


@pytest.fixture(scope="module")
def rendered(helm: Path) -> list[dict[str, Any]]:
    return render(helm, None, NAMESPACE, "metrics.prometheusRule.enabled=true")


@pytest.fixture(scope="module")
def rule(rendered: list[dict[str, Any]]) -> dict[str, Any]:
    rules = [d for d in rendered if d["kind"] == "PrometheusRule"]
    assert len(rules) == 1, [d["kind"] for d in rendered]
    return rules[0]


@pytest.fixture(scope="module")
def job(rendered: list[dict[str, Any]]) -> str:
    """The job label a ServiceMonitor scrape gives the series: the metrics Service's name."""
    services = [
        d["metadata"]["name"]
        for d in rendered
        if d["kind"] == "Service"
        and d["metadata"]["labels"].get("reactivejob-operator/endpoint") == "metrics"
    ]
    assert len(services) == 1, services
    return str(services[0])


def _run(tool: Path, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [str(tool), *args], input=stdin, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, (
        f"{tool.name} {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout


def _parse(selectors_tool: Path, exprs: list[str]) -> list[Parsed]:
    parsed: list[Parsed] = json.loads(_run(selectors_tool, stdin=json.dumps(exprs)))
    errors = [f"{p['expr']}\n  {p['error']}" for p in parsed if p.get("error")]
    assert not errors, "\n".join(errors)
    return parsed


# --- the dashboard is a well-formed Grafana model ---------------------------------------


def test_dashboard_is_a_well_formed_grafana_model() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"]
    panels = list(_panels(dashboard))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels:
        assert {"h", "w", "x", "y"} <= panel["gridPos"].keys(), panel["title"]
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["targets"], f"{panel['title']} has no query"
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "namespace", "job"} <= variables


# --- promtool: the rules load and each alert fires on the series it is meant for ----------


def test_alert_rules_pass_promtool_check(
    promtool: Path, rule: dict[str, Any], tmp_path: Path
) -> None:
    alerts = alert_rules(rule)
    assert {a["alert"] for a in alerts} == ALERTS
    for alert in alerts:
        assert alert["for"], alert["alert"]
        assert alert["labels"]["severity"] in ("warning", "critical"), alert["alert"]
        assert {"summary", "description"} <= alert["annotations"].keys(), alert["alert"]
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(yaml.safe_dump(rule["spec"]))
    out = _run(promtool, "check", "rules", "--lint=all", "--lint-fatal", str(rules_file))
    assert f"SUCCESS: {len(alerts)} rules found" in out, out


@dataclass
class _Case:
    """One promtool unit-test group: series in, the alerts expected at given times."""

    name: str
    series: dict[str, str]  # series -> promtool values notation, one sample a minute
    expected: dict[str, dict[str, list[dict[str, str]]]] = field(default_factory=dict)

    def expect(self, at: str, alert: str, *firing: dict[str, str]) -> _Case:
        self.expected.setdefault(at, {})[alert] = [dict(f) for f in firing]  # no YAML aliases
        return self

    def as_promtool(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "interval": "1m",
            "input_series": [{"series": s, "values": v} for s, v in self.series.items()],
            "alert_rule_test": [
                {"eval_time": at, "alertname": alert, "exp_alerts": [{"exp_labels": f} for f in fs]}
                for at, alerts in self.expected.items()
                for alert, fs in alerts.items()
            ],
        }


def _cases(job: str) -> list[_Case]:
    release = {"namespace": NAMESPACE, "job": job}

    def series(metric: str, pod: str = "op-1", **labels: str) -> str:
        target = {**release, "instance": f"{pod}:8080", "pod": pod}
        matchers = ", ".join(f'{k}="{v}"' for k, v in {**labels, **target}.items())
        return f"{metric}{{{matchers}}}"

    runs = "reactivejob_operator_runs_finished_total"
    depth, worked = "workqueue_depth", "workqueue_work_duration_seconds_count"
    leader, reconciles = "reactivejob_operator_leader", "reactivejob_operator_reconciles_total"
    failed = {"alertname": "ReactiveJobRunFailed", "severity": "warning", **release}
    no_leader = {"alertname": "ReactiveJobOperatorNoLeader", "severity": "critical", **release}
    errors = {"alertname": "ReactiveJobOperatorReconcileErrors", "severity": "warning", **release}
    stuck = {
        "alertname": "ReactiveJobOperatorWorkQueueStuck",
        "severity": "critical",
        "name": "reactivejob",
        "instance": "op-1:8080",
        "pod": "op-1",
        **release,
    }
    ok, error = series(reconciles, result="success"), series(reconciles, result="error")
    return [
        _Case(
            "a failed run alerts for the window, then clears",
            {series(runs, result="Failed"): "0x3 1x40", series(runs, result="Succeeded"): "0+1x44"},
        )
        .expect("2m", "ReactiveJobRunFailed")
        .expect("6m", "ReactiveJobRunFailed", failed)
        .expect("30m", "ReactiveJobRunFailed"),
        # The counter's Failed series is born at 1 with the first failure after a start.
        _Case("the first failure after a start alerts", {series(runs, result="Failed"): "_x5 1x40"})
        .expect("8m", "ReactiveJobRunFailed", failed)
        .expect("30m", "ReactiveJobRunFailed"),
        _Case(
            "only successes stay quiet, a restarted operator too",
            {
                series(runs, result="Failed"): "0x40",
                series(runs, result="Succeeded"): "0+1x40",
                series(runs, "op-2", result="Failed"): "_x10 0x30",
            },
        )
        .expect("5m", "ReactiveJobRunFailed")
        .expect("15m", "ReactiveJobRunFailed")
        .expect("30m", "ReactiveJobRunFailed"),
        # The follower (op-2) holds keys it never works on: only the leader's queue counts.
        _Case(
            "a leader's queue that stops moving alerts",
            {
                series(leader): "1x60",
                series(depth, name="reactivejob"): "0x5 3x60",
                series(worked, name="reactivejob"): "0+1x5 6x60",
                series(leader, "op-2"): "0x60",
                series(depth, "op-2", name="reactivejob"): "5x60",
                series(worked, "op-2", name="reactivejob"): "0x60",
            },
        )
        .expect("8m", "ReactiveJobOperatorWorkQueueStuck")
        .expect("30m", "ReactiveJobOperatorWorkQueueStuck", stuck),
        _Case(
            "a busy queue that moves stays quiet",
            {
                series(leader): "1x60",
                series(depth, name="reactivejob"): "3x60",
                series(worked, name="reactivejob"): "0+1x60",
            },
        ).expect("30m", "ReactiveJobOperatorWorkQueueStuck"),
        _Case("no replica leading alerts", {series(leader): "0x20", series(leader, "op-2"): "0x20"})
        .expect("3m", "ReactiveJobOperatorNoLeader")
        .expect("10m", "ReactiveJobOperatorNoLeader", no_leader),
        # Another release's leader must not stand in for ours.
        _Case(
            "no replica scraped alerts",
            {f'{leader}{{namespace="{NAMESPACE}", job="other-metrics", pod="x"}}': "1x20"},
        ).expect("10m", "ReactiveJobOperatorNoLeader", no_leader),
        _Case(
            "one replica leading stays quiet",
            {series(leader): "1x20", series(leader, "o2"): "0x20"},
        ).expect("10m", "ReactiveJobOperatorNoLeader"),
        _Case("a third of reconciles failing alerts", {ok: "0+10x40", error: "0+5x40"})
        .expect("10m", "ReactiveJobOperatorReconcileErrors")
        .expect("25m", "ReactiveJobOperatorReconcileErrors", errors),
        _Case("a few failing reconciles stay quiet", {ok: "0+19x40", error: "0+1x40"}).expect(
            "25m", "ReactiveJobOperatorReconcileErrors"
        ),
    ]


def test_each_alert_fires_on_its_series_and_only_there(
    promtool: Path, rule: dict[str, Any], job: str, tmp_path: Path
) -> None:
    spec = copy.deepcopy(rule["spec"])
    # promtool compares annotations exactly; the texts are the chart's to word, and
    # `promtool check rules` above already parses their templates.
    for alert in (r for group in spec["groups"] for r in group["rules"]):
        alert.pop("annotations", None)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(spec))
    cases = _cases(job)
    covered = {alert for case in cases for at in case.expected.values() for alert in at}
    fired = {a for c in cases for at in c.expected.values() for a, fs in at.items() if fs}
    assert covered == fired == ALERTS, "each alert needs a case where it fires"
    tests = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [case.as_promtool() for case in cases],
    }
    (tmp_path / "alerts_test.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    out = _run(promtool, "test", "rules", str(tmp_path / "alerts_test.yaml"))
    assert "SUCCESS" in out, out


# --- the metrics they read are the metrics the operator exports --------------------------


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from _panels(panel)  # a collapsed row holds its panels


def _dashboard_queries() -> tuple[list[str], list[str]]:
    """The PromQL of the dashboard's panels, and of its variables' label_values() queries."""
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [t["expr"] for p in _panels(dashboard) for t in p.get("targets", []) if "expr" in t]
    variables = []
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]
        text = query["query"] if isinstance(query, dict) else query
        match = LABEL_VALUES.match(text)
        assert match, f"variable {variable['name']}: expected label_values(...), got {text}"
        variables.append(match["selector"])
    # What is left after the durations (e.g. $namespace in a label value) is PromQL as it is:
    # a variable anywhere else fails the parse, as it should.
    return (
        [GRAFANA_DURATIONS.sub("5m", e) for e in panels],
        [GRAFANA_DURATIONS.sub("5m", e) for e in variables],
    )


def test_every_selector_is_scoped_to_one_release(
    selectors_tool: Path, rule: dict[str, Any]
) -> None:
    """An unscoped selector would mix in other releases' (or the Go operator's) series. The
    variables are not: they list the namespaces and jobs to choose from."""
    panels, _ = _dashboard_queries()
    unscoped = [
        f"{parsed['expr']}: {selector['metric']}"
        for parsed in _parse(selectors_tool, [a["expr"] for a in alert_rules(rule)] + panels)
        for selector in parsed["selectors"]
        if not {"namespace", "job"} <= {m["label"] for m in selector["matchers"]}
    ]
    assert not unscoped, "\n".join(unscoped)


@dataclass
class _Series:
    family: str
    sampled: bool = False
    labels: dict[str, set[str]] = field(default_factory=dict)


def _exported(text: str) -> dict[str, _Series]:
    """Series names the exposition declares (sampled or not yet), with their label values."""
    suffixes = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_sum", "_count"),
        "summary": ("", "_sum", "_count"),
    }
    series: dict[str, _Series] = {}
    for family in text_string_to_metric_families(text):
        for suffix in suffixes.get(family.type, ("",)):
            series[family.name + suffix] = _Series(family.name)
        for sample in family.samples:
            found = series.setdefault(sample.name, _Series(family.name))
            found.sampled = True
            for label, value in sample.labels.items():
                found.labels.setdefault(label, set()).add(value)
    return series


def test_dashboard_and_alerts_read_only_what_the_operator_exports(
    cluster: Cluster, operator: OperatorProcess, selectors_tool: Path, rule: dict[str, Any]
) -> None:
    cluster.create(reactive_job("succeeds", simple_template(**{OUTCOME_ANNOTATION: COMPLETE})))
    cluster.create(reactive_job("fails", simple_template(**{OUTCOME_ANNOTATION: FAILED})))
    cluster.wait_state("succeeds", "Ready")
    cluster.wait_state("fails", "Error")

    def scraped() -> dict[str, _Series] | None:
        # The state is written mid-reconcile: the run's count may come a moment later.
        series = _exported(operator.metrics())
        runs = series.get("reactivejob_operator_runs_finished_total")
        results = runs.labels.get("result", set()) if runs else set()
        return series if {"Succeeded", "Failed"} <= results else None

    exported = eventually(scraped, timeout=15, what="both run results counted")

    alert_exprs = [a["expr"] for a in alert_rules(rule)]
    panels, variables = _dashboard_queries()
    assert len(alert_exprs) == len(ALERTS) and len(panels) > 10 and variables
    problems, used = [], set()
    for parsed in _parse(selectors_tool, alert_exprs + panels + variables):
        for selector in parsed["selectors"]:
            metric = selector["metric"]
            used.add(metric)
            found = exported.get(metric)
            if found is None:
                problems.append(f"{metric} is not exported (in {parsed['expr']})")
                continue
            for matcher in selector["matchers"]:
                label, value = matcher["label"], matcher["value"]
                if label in TARGET_LABELS or not found.sampled:
                    continue
                if label not in found.labels:
                    problems.append(f"{metric} has no label {label} (in {parsed['expr']})")
                elif (
                    matcher["op"] == "="
                    and value not in found.labels[label]
                    and (metric, label, value) not in NOT_PRODUCED_HERE
                ):
                    problems.append(
                        f'{metric}{{{label}="{value}"}} is never exported: {label} is one of '
                        f"{sorted(found.labels[label])} (in {parsed['expr']})"
                    )
    assert not problems, "\n".join(problems) + f"\n\nexported: {sorted(exported)}"
    # The dashboard shows every family the operator exports (the _created gauges aside).
    shown = {exported[m].family for m in used}
    families = {s.family for s in exported.values() if not s.family.endswith("_created")}
    assert families <= shown, f"not on the dashboard: {sorted(families - shown)}"
    assert {metric for metric, _, _ in NOT_PRODUCED_HERE} <= used


if __name__ == "__main__":
    # `make binaries` builds both ahead of the tests: a cold build (about 4.5 minutes) would
    # not fit in one test's timeout.
    for tool in (PROMTOOL, SELECTORS):
        print(binaries.ensure_built(tool))

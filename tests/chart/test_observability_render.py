"""The chart's alerts and Grafana dashboard as helm renders them: neither unless asked for, the
PrometheusRule beside the ServiceMonitor and the dashboard's ConfigMap for Grafana's sidecar.
That the rules pass promtool and read only what the operator exports is
tests/integration/test_observability.py's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.chart.rendering import DASHBOARD, alert_rules, render

NAMESPACE = "observability"  # where the chart is rendered


@pytest.mark.parametrize(
    "sets",
    [
        (),
        ("metrics.enabled=false", "metrics.prometheusRule.enabled=true"),
        ("metrics.enabled=false", "metrics.dashboard.enabled=true"),
    ],
    ids=["defaults", "rule-without-metrics", "dashboard-without-metrics"],
)
def test_neither_rule_nor_dashboard_unless_enabled(helm: Path, sets: tuple[str, ...]) -> None:
    documents = render(helm, None, NAMESPACE, *sets)
    assert "Deployment" in {d["kind"] for d in documents}
    assert [d for d in documents if d["kind"] == "PrometheusRule"] == []
    dashboards = [
        d
        for d in documents
        if d["kind"] == "ConfigMap" and "grafana_dashboard" in d["metadata"].get("labels", {})
    ]
    assert dashboards == []


def test_rule_object_follows_the_service_monitor_conventions(helm: Path) -> None:
    documents = render(
        helm,
        None,
        NAMESPACE,
        "metrics.serviceMonitor.enabled=true",
        "metrics.serviceMonitor.labels.release=prometheus",
        "metrics.prometheusRule.enabled=true",
        "metrics.prometheusRule.labels.release=prometheus",
        'metrics.prometheusRule.selector=job="custom"',
    )
    rule = next(d for d in documents if d["kind"] == "PrometheusRule")
    monitor = next(d for d in documents if d["kind"] == "ServiceMonitor")
    assert rule["apiVersion"] == monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["namespace"] == monitor["metadata"]["namespace"] == NAMESPACE
    assert rule["metadata"]["labels"] == monitor["metadata"]["labels"]
    assert rule["metadata"]["labels"]["release"] == "prometheus"
    for alert in alert_rules(rule):
        assert 'job="custom"' in alert["expr"], alert["expr"]
        assert f'namespace="{NAMESPACE}"' not in alert["expr"], alert["expr"]


def test_dashboard_configmap_carries_the_dashboard_for_the_sidecar(helm: Path) -> None:
    documents = render(
        helm,
        None,
        NAMESPACE,
        "metrics.dashboard.enabled=true",
        "metrics.dashboard.namespace=monitoring",
        "metrics.dashboard.annotations.grafana_folder=Operators",
    )
    (configmap,) = [d for d in documents if d["kind"] == "ConfigMap"]
    assert configmap["metadata"]["namespace"] == "monitoring"
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["metadata"]["annotations"] == {"grafana_folder": "Operators"}
    (content,) = configmap["data"].values()
    assert json.loads(content) == json.loads(DASHBOARD.read_text())

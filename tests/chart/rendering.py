"""The chart rendered by helm alone: the helm binary, the values variants and `helm template`,
and the parts of the chart the observability tests read (its dashboard, a rule's alerts).

No cluster here: tests/chart/ uses these, and the tiers that install the chart (integration,
e2e) reuse them.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from testbed import binaries
from testbed.versions import kubernetes_version

CHART = Path(__file__).resolve().parents[2] / "chart" / "reactivejob-operator"
# The chart has no default image (none is published): every install names one, as users must.
IMAGE = ("--set", "image.repository=localhost/reactivejob-operator")
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
# An empty glob (a moved folder, a renamed extension) would quietly turn every test
# parametrised on it into an "empty parameter set" skip: refuse to collect instead.
assert CI_VALUES, f"no ci/ values files in {CHART / 'ci'}: the parametrised tests would vanish"
# The Grafana dashboard the chart ships in a ConfigMap (metrics.dashboard.enabled).
DASHBOARD = CHART / "dashboards" / "reactivejob-operator.json"


@pytest.fixture(scope="session")
def helm() -> Path:
    return binaries.helm()


def run_helm(helm: Path, *args: str, kubeconfig: Path | None = None) -> str:
    home = Path(tempfile.gettempdir()) / "reactivejob-helm"
    env = {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    if kubeconfig:
        env["KUBECONFIG"] = str(kubeconfig)
    result = subprocess.run(
        [str(helm), *args], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, f"helm {' '.join(args)}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def render(helm: Path, values: Path | None, namespace: str, *sets: str) -> list[dict[str, Any]]:
    args = [
        "template",
        "release",
        str(CHART),
        "--namespace",
        namespace,
        "--kube-version",
        kubernetes_version(),
        *IMAGE,
    ]
    if values:
        args += ["-f", str(values)]
    for setting in sets:
        args += ["--set", setting]
    return [doc for doc in yaml.safe_load_all(run_helm(helm, *args)) if doc]


def alert_rules(rule: dict[str, Any]) -> list[dict[str, Any]]:
    """The alerting rules of a rendered PrometheusRule, every group's."""
    return [r for group in rule["spec"]["groups"] for r in group["rules"] if "alert" in r]

"""The chart installed into the real control plane, and the operator's identity from it.

Shared by the chart tests and the in-cluster test (fixtures reach them through conftest.py).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from testbed import ControlPlane, binaries

CHART = Path(__file__).resolve().parents[2] / "chart" / "reactivejob-operator"
# The chart has no default image (none is published): every install names one, as users must.
IMAGE = ("--set", "image.repository=localhost/reactivejob-operator")


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


class Installed:
    def __init__(
        self,
        control_plane: ControlPlane,
        kube: client.ApiClient,
        namespace: str,
        manifest: list[dict[str, Any]],
    ):
        self.namespace = namespace
        self.manifest = manifest
        account = next(d for d in manifest if d["kind"] == "ServiceAccount")["metadata"]["name"]
        self.kubeconfig = kubeconfig_as(control_plane, kube, namespace, account, "operator")
        self.account = account


def kubeconfig_as(
    control_plane: ControlPlane, kube: client.ApiClient, namespace: str, account: str, name: str
) -> Path:
    granted = client.CoreV1Api(kube).create_namespaced_service_account_token(
        account,
        namespace,
        client.AuthenticationV1TokenRequest(spec={"expirationSeconds": 3600}),
    )
    assert granted.status is not None
    assert granted.status.token is not None
    return control_plane.kubeconfig_for_token(granted.status.token, f"{namespace}-{name}")


@pytest.fixture
def install(
    helm: Path, control_plane: ControlPlane, kube: client.ApiClient, crds: list[str], namespace: str
) -> Iterator[Callable[..., Installed]]:
    """helm install into the real control plane. No kubelet runs the Pod: the operator runs
    here instead, authenticated as the chart's ServiceAccount. The webhook is off because its
    Service has no Pod behind it (admission has its own tests)."""
    releases: list[str] = []

    def installer(*sets: str) -> Installed:
        # Short and unique: cluster-scoped objects (ClusterRoles) are named after the release.
        release = f"r{len(releases)}-{hashlib.sha256(namespace.encode()).hexdigest()[:6]}"
        args = [
            "install",
            release,
            str(CHART),
            "--namespace",
            namespace,
            "--set",
            "webhook.enabled=false",
            *IMAGE,
        ]
        for setting in sets:
            args += ["--set", setting]
        run_helm(helm, *args, kubeconfig=control_plane.kubeconfig)
        releases.append(release)
        manifest = run_helm(
            helm, "get", "manifest", release, "-n", namespace, kubeconfig=control_plane.kubeconfig
        )
        return Installed(
            control_plane, kube, namespace, [d for d in yaml.safe_load_all(manifest) if d]
        )

    yield installer
    for release in releases:
        run_helm(
            helm,
            "uninstall",
            release,
            "--namespace",
            namespace,
            kubeconfig=control_plane.kubeconfig,
        )

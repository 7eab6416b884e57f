"""The chart installed into the real control plane, and the operator's identity from it.

Shared by the chart tests and the in-cluster test (fixtures reach them through conftest.py).
Rendering and running helm is tests/chart/rendering.py's; CHART and run_helm are re-exported
here for tests/e2e, which imports them from this module.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from testbed import ControlPlane
from tests.chart.rendering import CHART, IMAGE, run_helm

__all__ = ["CHART", "Installed", "install", "kubeconfig_as", "run_helm"]


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

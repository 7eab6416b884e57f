"""`helm uninstall` leaves nothing the chart made (runs last in the tier: it removes the
operator the other tests use). The CRD stays, as Helm keeps every chart's crds/ by design."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError

from tests.e2e.conftest import OPERATOR_NAMESPACE, RELEASE
from tests.integration.chart_install import run_helm
from tests.integration.kube_helpers import eventually

# Builds and starts what the tier needs in its set-up: beyond the default per-test limit.
pytestmark = pytest.mark.timeout(1200)


def test_helm_uninstall_leaves_nothing_the_chart_made(
    kube: client.ApiClient, operator: dict[str, Any]
) -> None:
    helm, kubeconfig = operator["helm"], operator["kubeconfig"]
    made = run_helm(helm, "get", "manifest", RELEASE, "-n", OPERATOR_NAMESPACE,
                    kubeconfig=kubeconfig)  # fmt: skip
    documents = [d for d in yaml.safe_load_all(made) if d]
    assert {d["kind"] for d in documents} >= {"Deployment", "ServiceAccount", "ClusterRole"}
    run_helm(helm, "uninstall", RELEASE, "-n", OPERATOR_NAMESPACE, "--wait",
             kubeconfig=kubeconfig)  # fmt: skip
    dynamic = DynamicClient(kube)  # type: ignore[no-untyped-call]

    def remaining() -> list[str]:
        left = []
        for document in documents:
            resource = dynamic.resources.get(
                api_version=document["apiVersion"], kind=document["kind"]
            )
            namespace = document["metadata"].get("namespace") or (
                OPERATOR_NAMESPACE if resource.namespaced else None
            )
            try:
                resource.get(name=document["metadata"]["name"], namespace=namespace)
            except NotFoundError:
                continue
            left.append(f"{document['kind']}/{document['metadata']['name']}")
        return left

    eventually(lambda: remaining() == [] or None, 60, "every object of the release gone")
    # Its Pods go after the Deployment (background deletion), each after its SIGTERM.
    core = client.CoreV1Api(kube)
    eventually(
        lambda: not core.list_namespaced_pod(OPERATOR_NAMESPACE).items or None,
        60,
        "the operator's Pods gone",
    )

"""The e2e tier: one real node (containerd, kubelet, real Pods) for the tier, torn down before
the other tiers run; the project's own image; the chart installed as users install it.

Nothing here skips. If the node cannot start (no root, no apt, a kernel without bridges), every
test errors with the reason. The host is put back when the session ends, Pods first.
"""

from __future__ import annotations

import hashlib
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from reactivejob_api import GROUP, PLURAL, VERSION
from testbed import binaries
from testbed.kueue import Kueue, create_priority_classes, create_resource_flavor
from testbed.node import host, images
from testbed.node.node import RealCluster
from tests.e2e.templates import busybox
from tests.integration.chart_install import CHART, run_helm
from tests.integration.kube_helpers import Cluster, eventually
from tests.samples import reactive_job

REPO = Path(__file__).resolve().parents[2]
RELEASE = "reactivejob-operator"
OPERATOR_NAMESPACE = "reactivejob-system"
# Seconds each stage took, printed at the end of the session (the figures notes quote).
TIMINGS: dict[str, float] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tier's order, whatever its files are called: the host test first (it brings up
    nodes of its own, and one node runs per machine), then the operator's tests, then Kueue's
    (once they run, Kueue's webhooks are live), and `helm uninstall` last; each group in its
    files' order."""
    where = [i for i, item in enumerate(items) if "tests/e2e/" in str(item.path)]
    for i in where:
        items[i].add_marker(pytest.mark.e2e)
    tier = sorted((items[i] for i in where), key=_rank)  # stable: keeps the order within ranks
    for i, item in zip(where, tier, strict=True):
        items[i] = item


def _rank(item: pytest.Item) -> int:
    name = item.path.name
    if name == "test_host_lifecycle.py":
        return 0
    if name == "test_uninstall.py":
        return 3
    return 2 if "kueue" in name else 1


@pytest.fixture(scope="package")
def operator_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The operator's image, built once for the tier (the image tests read it too)."""
    started = time.monotonic()
    archive = images.operator_image(tmp_path_factory.mktemp("operator") / "image.tar", repo=REPO)
    TIMINGS["operator image"] = time.monotonic() - started
    return archive


@pytest.fixture(scope="package")
def node(operator_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealCluster]:
    with RealCluster(out=sys.stderr) as cluster:
        cluster.load_image(operator_archive)
        cluster.load_image(images.busybox_image(tmp_path_factory.mktemp("busybox") / "image.tar"))
        yield cluster
        TIMINGS.update(cluster.timings)
    # Every Pod deleted first, then every process, mount, cgroup, chain and interface gone.
    assert host.leftovers() == []
    assert cluster.network.leftovers() == []


@pytest.fixture(scope="package")
def kube(node: RealCluster) -> client.ApiClient:
    return node.kube


@pytest.fixture(scope="package")
def operator(node: RealCluster, kube: client.ApiClient) -> dict[str, Any]:
    """The chart installed once, as a user installs it, with two replicas electing a leader,
    the webhook on, and Pod Security "restricted" enforced on its namespace."""
    core = client.CoreV1Api(kube)
    core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(
                name=OPERATOR_NAMESPACE,
                labels={"pod-security.kubernetes.io/enforce": "restricted"},
            )
        )
    )
    helm = binaries.helm()
    kubeconfig = node.control_plane.kubeconfig
    started = time.monotonic()
    run_helm(
        helm, "install", RELEASE, str(CHART), "--namespace", OPERATOR_NAMESPACE,
        "--set", f"image.repository={images.OPERATOR_REPOSITORY}",
        "--set", "image.pullPolicy=Never",
        "--set", "replicaCount=2",
        # The shortest token the API allows: the tier outlives it, so rotation must work.
        "--set", "serviceAccountToken.expirationSeconds=600",
        "--wait", "--timeout", "180s",
        kubeconfig=kubeconfig,
    )  # fmt: skip
    TIMINGS["helm install to Available"] = time.monotonic() - started
    # Available says the Pods are ready; kube-proxy routes the Service to them a moment later.
    wait_until_the_webhook_answers(kube)
    return {"helm": helm, "kubeconfig": kubeconfig, "installed_at": time.time()}


def wait_until_the_webhook_answers(kube: client.ApiClient) -> None:
    """Until a dry-run create is reviewed through the webhook's Service (refusals and
    timeouts reaching it are 500s)."""
    objects = client.CustomObjectsApi(kube)
    probe = reactive_job("probe", busybox("true"))

    def answers() -> bool | None:
        try:
            objects.create_namespaced_custom_object(
                GROUP, VERSION, OPERATOR_NAMESPACE, PLURAL, probe, dry_run="All"
            )
        except client.ApiException as error:
            if error.status is not None and error.status >= 500:
                return None
            raise
        return True

    eventually(answers, 60, "the webhook answering through its Service")


@pytest.fixture(scope="package")
def kueue(node: RealCluster) -> Iterator[Kueue]:
    """Real Kueue for the rest of the tier (a host process; see testbed.kueue), with what every
    queue test shares: the ResourceFlavor "default" and the WorkloadPriorityClasses "low" (100)
    and "high" (1000). Each test makes its own ClusterQueue and LocalQueue."""
    with Kueue(node.control_plane, out=sys.stderr) as running:
        TIMINGS["kueue up"] = running.startup_seconds
        create_resource_flavor(node.kube, "default")
        create_priority_classes(node.kube)
        yield running
        running.check_running()  # it must not have died under the tests


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TIMINGS:
        figures = ", ".join(f"{k} {v:.1f}s" for k, v in TIMINGS.items())
        terminalreporter.write_line(f"real node: {figures}")


@pytest.fixture
def namespace(kube: client.ApiClient, request: pytest.FixtureRequest) -> str:
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    if len(name) > 50:  # kept unique: parametrized tests share a long prefix
        name = f"{name[:43].strip('-')}-{hashlib.sha256(name.encode()).hexdigest()[:6]}"
    client.CoreV1Api(kube).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name))
    )
    return name


@pytest.fixture
def cluster(kube: client.ApiClient, namespace: str) -> Cluster:
    return Cluster(kube, namespace)

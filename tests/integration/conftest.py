"""Fixtures on a real control plane: kube-apiserver + etcd + kube-controller-manager (GC, TTL).

Nothing here skips. If the control plane cannot start, every integration test errors with the
reason (missing Go, failed build, port clash...), so CI goes red and says why.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from kubernetes import client

from testbed import ControlPlane, api_client
from testbed.harness import JobRunner, install_reactivejob_crd
from testbed.harness.operator_process import OperatorProcess
from tests.chart.rendering import helm  # noqa: F401 (a fixture for all)
from tests.integration.audit import SERVICE_ACCOUNT_POLICY
from tests.integration.chart_install import install  # noqa: F401 (a fixture for all)
from tests.integration.kube_helpers import Cluster, slug

REPO = Path(__file__).resolve().parents[2]
CRD_DIR = REPO / "generated" / "reactivejob_api" / "crds"

pytestmark = pytest.mark.integration


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    # Audited so tests can ask the server what an operator did (tests/integration/audit.py).
    with ControlPlane(audit_policy=SERVICE_ACCOUNT_POLICY) as started:
        print(f"\ncontrol plane started in {started.startup_seconds:.2f}s at {started.server}")
        yield started


@pytest.fixture(scope="session")
def kube(control_plane: ControlPlane) -> Iterator[client.ApiClient]:
    """An ApiClient with the admin identity (system:masters)."""
    with api_client(control_plane.kubeconfig) as api:
        yield api


@pytest.fixture(scope="session")
def crds(kube: client.ApiClient) -> list[str]:
    """The generated ReactiveJob CRD, installed with server-side apply and Established."""
    return install_reactivejob_crd(kube)


@pytest.fixture(scope="session")
def job_runner(kube: client.ApiClient) -> Iterator[JobRunner]:
    runner = JobRunner(kube).start()
    yield runner
    runner.stop()


@pytest.fixture
def namespace(kube: client.ApiClient, request: pytest.FixtureRequest) -> str:
    """A fresh namespace per test, named after it (no namespace controller runs to empty it)."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    digest = hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:6]
    name = f"{slug}-{digest}"
    client.CoreV1Api(kube).create_namespace(client.V1Namespace(metadata={"name": name}))
    return name


@pytest.fixture
def cluster(
    kube: client.ApiClient, namespace: str, crds: list[str], job_runner: JobRunner
) -> Cluster:
    """The test's namespace with the CRD installed and the stand-in kubelet running."""
    return Cluster(kube, namespace)


@pytest.fixture
def operator(
    control_plane: ControlPlane,
    crds: list[str],
    job_runner: JobRunner,
    namespace: str,
    tmp_path: Path,
) -> Iterator[OperatorProcess]:
    """The operator as a real process, watching the test's namespace (so tests never share one)."""
    process = OperatorProcess(control_plane.kubeconfig, [namespace], tmp_path / "operator").start()
    yield process
    process.stop()


@pytest.fixture
def unstarted_operator(
    control_plane: ControlPlane, cluster: Cluster, tmp_path: Path
) -> Iterator[OperatorProcess]:
    """The operator for the test's namespace, for the test to start, stop and kill."""
    process = OperatorProcess(control_plane.kubeconfig, [cluster.namespace], tmp_path / "operator")
    yield process
    process.stop()


# For tests that take the API server down or cut it off: a control plane of the module's own
# (audited, as the session's is), with the CRD and the stand-in kubelet, and a namespace per test.
@pytest.fixture(scope="module")
def own_plane() -> Iterator[ControlPlane]:
    with ControlPlane(audit_policy=SERVICE_ACCOUNT_POLICY) as plane:
        yield plane


@pytest.fixture(scope="module")
def own_api(own_plane: ControlPlane) -> Iterator[client.ApiClient]:
    with api_client(own_plane.kubeconfig) as api:
        install_reactivejob_crd(api)
        runner = JobRunner(api).start()
        yield api
        runner.stop()


@pytest.fixture
def own_cluster(own_api: client.ApiClient, request: pytest.FixtureRequest) -> Cluster:
    name = slug(request.node.name, 50)
    client.CoreV1Api(own_api).create_namespace(client.V1Namespace(metadata={"name": name}))
    return Cluster(own_api, name)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    plane = getattr(item, "funcargs", {}).get("control_plane")
    if report.failed and isinstance(plane, ControlPlane):
        for name, tail in plane.logs().items():
            report.sections.append((f"{name} log (last lines)", tail))
    operator = getattr(item, "funcargs", {}).get("operator")
    if report.failed and isinstance(operator, OperatorProcess):
        report.sections.append(
            ("operator log (last 150 lines)", "\n".join(operator.logs().splitlines()[-150:]))
        )
    return report

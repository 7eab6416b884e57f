"""The operator started exactly as a Pod starts it, on the real control plane: no kubeconfig,
``KUBERNETES_SERVICE_HOST``/``_PORT``, the chart's ServiceAccount token, CA and namespace at
the fixed in-cluster path (a private mount namespace), and uid 65532 with no passwd entry.

It must go on working when the kubelet rotates the token and the old one stops being valid,
and a token the API server refuses must leave it running, unready, and saying whose it was.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from reactivejob_api import Connection, Unauthorized
from reactivejob_api.aio import AsyncJobClient
from reactivejob_api.client import JobClient
from testbed import ControlPlane
from testbed.harness.kubelet import COMPLETE, OUTCOME_ANNOTATION
from testbed.harness.operator_process import OperatorProcess
from testbed.harness.pod_sandbox import NOBODY_UID, SERVICE_ACCOUNT_DIR, PodSandbox
from tests.integration.chart_install import Installed
from tests.integration.kube_helpers import Cluster, eventually
from tests.samples import reactive_job, simple_template

TOKEN_FILE = f"{SERVICE_ACCOUNT_DIR}/token"


def token_for(kube: client.ApiClient, namespace: str, account: str) -> str:
    granted = client.CoreV1Api(kube).create_namespaced_service_account_token(
        account, namespace, client.AuthenticationV1TokenRequest(spec={"expirationSeconds": 3600})
    )
    assert granted.status is not None and granted.status.token is not None
    token: str = granted.status.token
    return token


def write_token(folder: Path, token: str) -> None:
    """As the kubelet does: a new file swapped in whole, never a half-written one."""
    staged = folder / ".token.new"
    staged.write_text(token)
    staged.chmod(0o644)
    os.replace(staged, folder / "token")


def service_account_folder(
    tmp_path: Path, control_plane: ControlPlane, namespace: str, token: str
) -> Path:
    folder = tmp_path / "serviceaccount"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)  # the umask may have narrowed it; the Pod's user must read it
    (folder / "ca.crt").write_bytes(control_plane.ca_cert.read_bytes())
    (folder / "namespace").write_text(namespace)
    for name in ("ca.crt", "namespace"):
        (folder / name).chmod(0o644)
    write_token(folder, token)
    return folder


def pod_like(
    folder: Path, control_plane: ControlPlane, namespace: str, log: Path
) -> OperatorProcess:
    sandbox = PodSandbox(folder, "127.0.0.1", control_plane.api_port)
    return OperatorProcess(None, [namespace], log, sandbox=sandbox)


def uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for {pid}")


def refused(control_plane: ControlPlane, token: str) -> bool:
    """True once the API server answers this token with 401."""
    request = urllib.request.Request(
        control_plane.server + "/api", headers={"Authorization": f"Bearer {token}"}
    )
    context = ssl.create_default_context(cafile=str(control_plane.ca_cert))
    try:
        with urllib.request.urlopen(request, context=context, timeout=5):
            return False
    except urllib.error.HTTPError as error:
        return error.code == 401


def ready(operator: OperatorProcess) -> bool:
    try:
        operator.get("/readyz")
    except urllib.error.HTTPError as error:
        if error.code != 503:
            raise
        return False
    return True


def bind_like(kube: client.ApiClient, installed: Installed, account: str) -> None:
    """Give ``account`` every binding the chart gave its own ServiceAccount."""
    rbac = client.RbacAuthorizationV1Api(kube)
    for document in installed.manifest:
        if document["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        body: dict[str, Any] = {
            "metadata": {"name": f"{document['metadata']['name']}-{account}"},
            "roleRef": document["roleRef"],
            "subjects": [
                {"kind": "ServiceAccount", "name": account, "namespace": installed.namespace}
            ],
        }
        if document["kind"] == "ClusterRoleBinding":
            rbac.create_cluster_role_binding(body)  # type: ignore[arg-type]
        else:
            namespace = document["metadata"].get("namespace") or installed.namespace
            rbac.create_namespaced_role_binding(namespace, body)  # type: ignore[arg-type]


def done(name: str) -> dict[str, Any]:
    return reactive_job(name, simple_template(**{OUTCOME_ANNOTATION: COMPLETE}))


@pytest.mark.usefixtures("job_runner")
def test_runs_as_a_pod_and_follows_a_rotated_token(
    install: Callable[..., Installed],
    kube: client.ApiClient,
    control_plane: ControlPlane,
    namespace: str,
    tmp_path: Path,
) -> None:
    installed = install(f"watchNamespaces={{{namespace}}}")
    first = token_for(kube, namespace, installed.account)
    folder = service_account_folder(tmp_path, control_plane, namespace, first)
    operator = pod_like(folder, control_plane, namespace, tmp_path / "operator").start()
    cluster = Cluster(kube, namespace)
    try:
        assert operator.process is not None
        pid = operator.process.pid
        assert uid_of(pid) == NOBODY_UID
        cluster.create(done("before"))
        cluster.wait_state("before", "Ready")

        # The kubelet rotates the token; then the old one stops being valid (its
        # ServiceAccount is deleted, which revokes every token it was given).
        client.CoreV1Api(kube).create_namespaced_service_account(
            namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="rotated"))
        )
        bind_like(kube, installed, "rotated")
        second = token_for(kube, namespace, "rotated")
        write_token(folder, second)
        client.CoreV1Api(kube).delete_namespaced_service_account(installed.account, namespace)
        eventually(lambda: refused(control_plane, first), what="the first token refused")

        cluster.create(done("after"))
        cluster.wait_state("after", "Ready")
        assert operator.starts == 1 and operator.process.exit_code() is None
        assert operator.process.pid == pid
        logs = operator.logs()
        for token in (first, second):
            assert token not in logs
            assert token.split(".")[2][:12] not in logs  # not even a piece of the signature
    finally:
        operator.stop()


def test_a_refused_token_keeps_it_running_unready_and_says_whose(
    install: Callable[..., Installed],
    kube: client.ApiClient,
    control_plane: ControlPlane,
    namespace: str,
    tmp_path: Path,
) -> None:
    installed = install(f"watchNamespaces={{{namespace}}}")
    bogus = "not-a-token-" + "x" * 40
    folder = service_account_folder(tmp_path, control_plane, namespace, bogus)
    operator = pod_like(folder, control_plane, namespace, tmp_path / "operator")
    operator.start(wait_ready=False)
    try:
        refusal = (
            "401 Unauthorized: the API server refused the credentials of the Pod's "
            f"ServiceAccount (namespace {namespace}), token file {TOKEN_FILE}"
        )
        eventually(lambda: refusal in operator.logs(), what="the refusal in the log")
        assert not ready(operator)

        # A ServiceAccount without rights: the server's own words name it.
        client.CoreV1Api(kube).create_namespaced_service_account(
            namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="powerless"))
        )
        write_token(folder, token_for(kube, namespace, "powerless"))
        forbidden = f'User "system:serviceaccount:{namespace}:powerless" cannot list resource'
        eventually(lambda: forbidden in operator.logs(), timeout=60, what="the 403 in the log")
        assert not ready(operator)

        # The right token heals it, with no restart.
        write_token(folder, token_for(kube, namespace, installed.account))
        eventually(lambda: ready(operator), timeout=60, what="ready with a valid token")
        assert operator.starts == 1
        assert operator.process is not None and operator.process.exit_code() is None
        assert bogus not in operator.logs()
    finally:
        operator.stop()


class Rotating:
    """A token source whose next token is only read when a 401 asks for it."""

    origin = "the test's rotating token"

    def __init__(self, *tokens: str) -> None:
        self.tokens = list(tokens)
        self.refreshes = 0

    def token(self) -> str | None:
        return self.tokens[0]

    def refresh(self) -> bool:
        self.refreshes += 1
        if len(self.tokens) == 1:
            return False
        self.tokens.pop(0)
        return True


def test_a_401_reads_the_token_again_and_retries_once(
    kube: client.ApiClient, control_plane: ControlPlane, namespace: str
) -> None:
    """The path a stat cannot see (a token rewritten in place): the request that gets 401 is
    sent again, once, with the token read afresh, by the sync and the async client alike."""
    core, rbac = client.CoreV1Api(kube), client.RbacAuthorizationV1Api(kube)
    rule = client.V1PolicyRule(api_groups=["batch"], resources=["jobs"], verbs=["list"])
    rbac.create_namespaced_role(
        namespace, client.V1Role(metadata=client.V1ObjectMeta(name="lister"), rules=[rule])
    )
    tokens = {}
    for name in ("old", "new"):
        core.create_namespaced_service_account(
            namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name))
        )
        rbac.create_namespaced_role_binding(
            namespace,
            client.V1RoleBinding(
                metadata=client.V1ObjectMeta(name=name),
                role_ref=client.V1RoleRef(
                    api_group="rbac.authorization.k8s.io", kind="Role", name="lister"
                ),
                subjects=[
                    client.RbacV1Subject(kind="ServiceAccount", name=name, namespace=namespace)
                ],
            ),
        )
        tokens[name] = token_for(kube, namespace, name)
    core.delete_namespaced_service_account("old", namespace)
    eventually(lambda: refused(control_plane, tokens["old"]), what="the old token refused")

    def connection(source: Rotating) -> Connection:
        return Connection(control_plane.server, str(control_plane.ca_cert), credentials=source)

    sync_source = Rotating(tokens["old"], tokens["new"])
    with JobClient(connection(sync_source)) as jobs:
        assert jobs.list(namespace).items == []
    assert sync_source.refreshes == 1

    async def listed(source: Rotating) -> int:
        async with AsyncJobClient(connection(source)) as jobs:
            return len((await jobs.list(namespace)).items)

    async_source = Rotating(tokens["old"], tokens["new"])
    assert asyncio.run(listed(async_source)) == 0
    assert async_source.refreshes == 1

    # Nothing new to read: the 401 stands, and says whose token it was.
    stale = Rotating(tokens["old"])
    with JobClient(connection(stale)) as jobs, pytest.raises(Unauthorized) as refusal:
        jobs.list(namespace)
    assert stale.refreshes == 1
    assert str(refusal.value) == (
        "401 Unauthorized: the API server refused the credentials of "
        f"system:serviceaccount:{namespace}:old, the test's rotating token"
    )

"""Leader election with two real operator processes, and the metrics/readiness endpoints.

Each replica runs as a ServiceAccount of its own, so the API server's audit log (not the
replicas' own logs) says which one wrote what, and when.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client, watch

from reactivejob_api.vocabulary import ANNOTATION_GENERATION
from testbed import ControlPlane
from testbed.harness.kubelet import COMPLETE, OUTCOME_ANNOTATION
from testbed.harness.operator_process import OperatorProcess
from tests.integration.audit import Request, now, requests_by, service_account, writes
from tests.integration.kube_helpers import Cluster, eventually, manifest
from tests.integration.test_admission import Webhook
from tests.samples import reactive_job, simple_template

LEASE = "reactivejob-operator.batch.cs.sap.com"
FAST = ["--lease-duration=4", "--renew-deadline=3", "--retry-period=0.5"]


@dataclass(frozen=True)
class Replica:
    operator: OperatorProcess
    user: str  # its ServiceAccount, as the audit log names it


@pytest.fixture
def pair(
    control_plane: ControlPlane, cluster: Cluster, kube: client.ApiClient, tmp_path: Path
) -> Iterator[list[Replica]]:
    election = ["--leader-elect", f"--leader-election-namespace={cluster.namespace}", *FAST]
    with contextlib.ExitStack() as identities:
        replicas = []
        for name in ("a", "b"):
            kubeconfig, user = identities.enter_context(
                service_account(control_plane, kube, cluster.namespace, f"operator-{name}")
            )
            operator = OperatorProcess(kubeconfig, [cluster.namespace], tmp_path / name, election)
            replicas.append(Replica(operator, user))
        try:
            for replica in replicas:
                replica.operator.start()
            yield replicas
        finally:
            for replica in replicas:
                replica.operator.stop()


def leader_gauge(replica: Replica) -> float | None:
    try:
        text = replica.operator.metrics()
    except OSError:
        return None
    found = re.search(r"^reactivejob_operator_leader (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


def the_leader(replicas: list[Replica]) -> Replica:
    def single() -> Replica | None:
        leading = [r for r in replicas if leader_gauge(r) == 1.0]
        return leading[0] if len(leading) == 1 else None

    return eventually(single, what="exactly one leader")


def the_other(replicas: list[Replica], one: Replica) -> Replica:
    return next(r for r in replicas if r is not one)


def creations(replica: Replica) -> int:
    return replica.operator.logs().count(": creating job ")


def job_creates(control_plane: ControlPlane, replica: Replica) -> list[Request]:
    return [
        r for r in writes(requests_by(control_plane, replica.user), "jobs") if r.verb == "create"
    ]


def acting(requests: list[Request]) -> list[Request]:
    """Writes a replica may make only while it leads: everything but its Lease attempts."""
    return [r for r in writes(requests) if r.resource != "leases"]


def listed(requests: list[Request]) -> str:
    return "\n".join(map(str, requests)) or "(none)"


def test_one_leads_the_other_takes_over_without_duplicates(
    pair: list[Replica], cluster: Cluster, control_plane: ControlPlane
) -> None:
    leader = the_leader(pair)
    follower = the_other(pair, leader)
    assert leader_gauge(follower) == 0.0
    cluster.create(
        reactive_job("ha", simple_template(**{OUTCOME_ANNOTATION: COMPLETE, "rev": "1"}))
    )
    uid = cluster.wait_state("ha", "Ready")["metadata"]["uid"]
    assert (creations(leader), creations(follower)) == (1, 0)  # only the leader acted

    # The server's account: the leader wrote the Job and the status (so the audit log does show
    # a replica acting), the follower only read. It may have tried to create the Lease in a race
    # at start-up and lost (409); a write of it that succeeded would mean it had led.
    led = eventually(
        lambda: job_creates(control_plane, leader) or None, what="the leader's Job in the audit log"
    )
    assert [r.code for r in led] == [201], listed(led)
    eventually(
        lambda: writes(requests_by(control_plane, leader.user), "reactivejobs") or None,
        what="the leader's status writes in the audit log",
    )
    followed = requests_by(control_plane, follower.user)
    assert any(r.resource == "leases" and r.verb == "get" for r in followed), listed(followed)
    assert acting(followed) == [], listed(followed)
    assert [r for r in writes(followed, "leases") if r.succeeded] == [], listed(followed)

    leader.operator.kill()
    killed, killed_at = time.monotonic(), now()
    the_leader([follower])
    takeover = time.monotonic() - killed
    # How fast is for the benchmark to print (benchmarks/reconcile.py); here only the order.
    print(f"takeover after SIGKILL of the leader: {takeover:.1f}s (lease duration 4s)")

    cluster.patch("ha", {"spec": {"jobTemplate": {"metadata": {"annotations": {"rev": "2"}}}}})
    obj = cluster.wait_state("ha", "Ready")
    jobs = cluster.jobs(uid)
    generations = [j["metadata"]["annotations"][ANNOTATION_GENERATION] for j in jobs]
    assert sorted(generations) == ["1", "2"]  # one Job per template, none twice
    assert creations(follower) == 1
    assert obj["status"]["currentJobName"] == jobs[-1]["metadata"]["name"]

    # The successor took the Lease only once the leader was gone, and acted only once it held it.
    created = eventually(
        lambda: job_creates(control_plane, follower) or None,
        what="the successor's Job in the audit log",
    )
    assert [(r.name, r.code) for r in created] == [(jobs[-1]["metadata"]["name"], 201)]
    followed = requests_by(control_plane, follower.user)
    acquired = [r.received for r in writes(followed, "leases") if r.succeeded]
    assert acquired and min(acquired) > killed_at, listed(followed)
    assert all(r.received >= min(acquired) for r in acting(followed)), listed(followed)
    # Its caches were warm: it listed once at start-up, as a follower, and not again to act.
    relisted = [
        r for r in followed
        if r.verb == "list" and r.resource in ("reactivejobs", "jobs") and r.received > killed_at
    ]  # fmt: skip
    assert relisted == [], listed(relisted)
    assert any(r.verb == "list" and r.resource == "jobs" for r in followed), listed(followed)


def test_a_leader_that_loses_its_lease_stops_at_once(
    pair: list[Replica], cluster: Cluster, kube: client.ApiClient, control_plane: ControlPlane
) -> None:
    leader = the_leader(pair)
    follower = the_other(pair, leader)
    cluster.create(
        reactive_job("ha", simple_template(**{OUTCOME_ANNOTATION: COMPLETE, "rev": "1"}))
    )
    uid = cluster.wait_state("ha", "Ready")["metadata"]["uid"]
    eventually(
        lambda: job_creates(control_plane, leader) or None, what="the leader's Job in the audit log"
    )
    process = leader.operator.process
    assert process is not None
    # Someone else now holds the Lease (as after a network partition the leader did not see).
    client.CoordinationV1Api(kube).patch_namespaced_lease(
        LEASE,
        cluster.namespace,
        {"spec": {"holderIdentity": "somebody-else", "leaseDurationSeconds": 60}},
    )
    stolen, stolen_at = time.monotonic(), now()

    # The leader learns of it at its next look, up to a retry period later, and until then may
    # act: as with client-go, nothing fences its writes. So the template changes once it has
    # looked; from then on, acting on the change means a Job made while another holds the Lease.
    def looked() -> list[Request] | None:
        seen = requests_by(control_plane, leader.user)
        return [r for r in seen if r.resource == "leases" and r.received > stolen_at] or None

    eventually(looked, timeout=5, what="the old leader reading the stolen Lease")
    cluster.patch("ha", {"spec": {"jobTemplate": {"metadata": {"annotations": {"rev": "2"}}}}})
    eventually(lambda: process.exit_code() is not None, timeout=10, what="the old leader exiting")
    print(f"old leader exited {time.monotonic() - stolen:.1f}s after losing the lease")
    assert process.exit_code() == 1
    assert "lost the lease" in leader.operator.logs()

    # Not one write after the Lease was gone: no Job for generation 2, no status, no Event.
    after = [r for r in writes(requests_by(control_plane, leader.user)) if r.received > stolen_at]
    assert after == [], listed(after)
    generations = [j["metadata"]["annotations"][ANNOTATION_GENERATION] for j in cluster.jobs(uid)]
    assert generations == ["1"]
    followed = requests_by(control_plane, follower.user)
    assert acting(followed) == [], listed(followed)  # somebody-else holds the Lease for 60 s


def lease_holders(
    coordination: client.CoordinationV1Api, namespace: str, since: str, until: str
) -> list[str | None]:
    """The Lease's holder in every version the server stored after ``since``, up to the
    first held by ``until``: its history, which no poll could be sure to see whole."""
    holders: list[str | None] = []
    stream = watch.Watch()  # type: ignore[no-untyped-call]
    for event in stream.stream(  # type: ignore[no-untyped-call]
        coordination.list_namespaced_lease,
        namespace,
        field_selector=f"metadata.name={LEASE}",
        resource_version=since,
        timeout_seconds=10,
    ):
        lease: client.V1Lease = event["object"]
        assert lease.spec is not None
        holders.append(lease.spec.holder_identity)
        if holders[-1] == until:
            stream.stop()  # type: ignore[no-untyped-call]
    assert until in holders, f"{until} never held the Lease after {since}: {holders}"
    return holders


def test_graceful_stop_releases_the_lease_for_a_fast_successor(
    pair: list[Replica], cluster: Cluster, kube: client.ApiClient
) -> None:
    leader = the_leader(pair)
    follower = the_other(pair, leader)
    coordination = client.CoordinationV1Api(kube)
    held = coordination.read_namespaced_lease(LEASE, cluster.namespace)
    assert held.spec is not None and held.metadata is not None
    identity, version = held.spec.holder_identity, held.metadata.resource_version
    assert identity and version
    stopped = time.monotonic()
    assert leader.operator.stop() == 0
    released = coordination.read_namespaced_lease(LEASE, cluster.namespace)
    the_leader([follower])
    print(f"successor leading {time.monotonic() - stopped:.1f}s after SIGTERM of the leader")
    lease = coordination.read_namespaced_lease(LEASE, cluster.namespace)
    assert lease.spec is not None
    successor = lease.spec.holder_identity
    assert successor and successor != identity
    assert (lease.spec.lease_transitions or 0) >= 1

    # Free the moment the leader has gone; the successor, trying every retry period, may
    # already have taken it. Only a leader that did not release it can still be named.
    assert released.spec is not None
    assert released.spec.holder_identity in (None, "", successor)
    # Every stored version, to tell "released, then taken" from "taken once expired".
    history = [identity, *lease_holders(coordination, cluster.namespace, version, successor)]
    last_held = max(i for i, holder in enumerate(history) if holder == identity)
    assert history[last_held + 1] in (None, ""), history


SERIES = (
    "reactivejob_operator_jobs_created_total 1.0",
    'reactivejob_operator_reconciles_total{result="success"}',
    "reactivejob_operator_reconcile_duration_seconds_bucket",
    'workqueue_depth{name="reactivejob"}',  # client-go's work-queue names
    'workqueue_adds_total{name="reactivejob"}',
    'workqueue_queue_duration_seconds_bucket{le="0.001",name="reactivejob"}',
    'workqueue_work_duration_seconds_bucket{le="0.001",name="reactivejob"}',
    'reactivejob_operator_cache_objects{kind="ReactiveJob"} 1.0',
    'reactivejob_operator_cache_objects{kind="Job"} 1.0',
    "reactivejob_operator_watch_restarts_total",
    "reactivejob_operator_cache_relists_total",
    "reactivejob_operator_events_dropped_total",
    "reactivejob_operator_leader 1.0",  # no leader election: always acting
)


def test_metrics_and_readiness(cluster: Cluster, operator: OperatorProcess) -> None:
    assert operator.get("/readyz").strip() == "ready"
    assert operator.get("/healthz").strip() == "ok"
    cluster.create(reactive_job("counted", simple_template(**{OUTCOME_ANNOTATION: COMPLETE})))
    cluster.wait_state("counted", "Ready")

    def exported() -> str:
        # Ready is written mid-reconcile: the Events and the reconcile's count come after it.
        text = operator.metrics()
        missing = [s for s in SERIES if s not in text]
        assert not missing, f"missing {missing} in:\n{text}"
        return text

    eventually(exported, timeout=10, what="every series exported")


def test_probes_metrics_and_webhook_listen_on_ipv6_and_ipv4_like_go(
    control_plane: ControlPlane, cluster: Cluster, tmp_path: Path
) -> None:
    """``:8081`` is Go's every-interface address, IPv6 included: an IPv6-only cluster's kubelet
    probes over IPv6, and an IPv4-only listener fails its liveness probe forever. The webhook's
    default bind address is every interface too."""
    certs = tmp_path / "certs"
    certs.mkdir()
    webhook = Webhook(certs)
    operator = OperatorProcess(
        control_plane.kubeconfig, [cluster.namespace], tmp_path / "operator",
        [f"--webhook-cert-dir={certs}", f"--webhook-port={webhook.port}"], listen="",
    )  # fmt: skip
    try:
        operator.start()
        for host, family in (("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6)):
            url = f"http://{host if family == socket.AF_INET else f'[{host}]'}"
            with urllib.request.urlopen(f"{url}:{operator.port}/healthz", timeout=2) as answer:
                assert answer.status == 200, host
            with urllib.request.urlopen(f"{url}:{operator.metrics_port}/metrics", timeout=2) as got:
                assert b"reactivejob_operator_leader" in got.read(), host
            with socket.socket(family) as probe:  # the webhook's TLS port accepts
                probe.settimeout(2)
                probe.connect((host, webhook.port))
    finally:
        operator.stop()


def token_for(kube: client.ApiClient, namespace: str, name: str, reads_metrics: bool) -> str:
    """A token of a new ServiceAccount, bound (or not) to a ClusterRole that may get /metrics."""
    core, rbac = client.CoreV1Api(kube), client.RbacAuthorizationV1Api(kube)
    core.create_namespaced_service_account(namespace, manifest({"metadata": {"name": name}}))
    if reads_metrics:
        role = f"{namespace}-{name}"
        rules = [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]
        rbac.create_cluster_role(manifest({"metadata": {"name": role}, "rules": rules}))
        reference = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}
        subject = {"kind": "ServiceAccount", "name": name, "namespace": namespace}
        rbac.create_cluster_role_binding(
            manifest({"metadata": {"name": role}, "roleRef": reference, "subjects": [subject]})
        )
    granted = core.create_namespaced_service_account_token(
        name, namespace, manifest({"spec": {"expirationSeconds": 600}})
    )
    assert granted.status is not None and granted.status.token
    return str(granted.status.token)


def test_secure_metrics_answer_only_callers_the_api_server_allows(
    control_plane: ControlPlane, cluster: Cluster, kube: client.ApiClient, tmp_path: Path
) -> None:
    """controller-runtime's WithAuthenticationAndAuthorization: HTTPS, and a bearer token that
    a TokenReview accepts and a SubjectAccessReview allows to get /metrics."""
    certs = tmp_path / "certs"
    certs.mkdir()
    serving = Webhook(certs)  # a CA and a serving certificate for 127.0.0.1
    operator = OperatorProcess(
        control_plane.kubeconfig, [cluster.namespace], tmp_path / "operator",
        ["--metrics-secure", f"--metrics-cert-dir={certs}"],
    )  # fmt: skip
    scraper = token_for(kube, cluster.namespace, "scraper", reads_metrics=True)
    nobody = token_for(kube, cluster.namespace, "nobody", reads_metrics=False)
    context = ssl.create_default_context(cafile=str(serving.ca.pair.cert))

    def scrape(token: str | None) -> tuple[int, str]:
        request = urllib.request.Request(f"https://127.0.0.1:{operator.metrics_port}/metrics")
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=5, context=context) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as refused:
            return refused.code, refused.read().decode()

    try:
        operator.start()
        assert scrape(None)[0] == 401
        assert scrape("not-a-token")[0] == 401
        status, said = scrape(nobody)
        assert status == 403 and f"system:serviceaccount:{cluster.namespace}:nobody" in said
        status, text = scrape(scraper)
        assert status == 200 and "reactivejob_operator_leader" in text
        plain = f"http://127.0.0.1:{operator.metrics_port}/metrics"
        with pytest.raises((OSError, http.client.HTTPException)):  # no plain HTTP beside it
            urllib.request.urlopen(plain, timeout=5)
        for token in (scraper, nobody):
            assert token not in operator.logs() and token[-20:] not in operator.logs()
    finally:
        operator.stop()

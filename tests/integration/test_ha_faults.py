"""Leader election under faults: two real replicas on a control plane of their own (these tests
take its API server down), each as a ServiceAccount of its own, and the audit log as witness.

- The API server goes away for 20 s, and then the Lease holder is SIGKILLed.
- One replica's network alone goes silent for 40 s (a TCP proxy per replica).
- 40 namespaces with config triggers: 160 watches must not starve the Lease or the webhook.
"""

from __future__ import annotations

import contextlib
import datetime
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from testbed import ControlPlane
from testbed.harness import COMPLETE, OUTCOME_ANNOTATION
from testbed.harness.operator_process import OperatorProcess
from testbed.harness.tcp_proxy import TcpProxy
from tests.integration.audit import (
    Request,
    now,
    requests_by,
    service_account,
    writes,
)
from tests.integration.kube_helpers import Cluster, eventually, slug
from tests.integration.test_admission import Webhook, register
from tests.integration.test_ha import FAST, LEASE, Replica, listed, the_leader, the_other
from tests.samples import reactive_job, simple_template

LEASE_DURATION = 4.0  # FAST's


def new_namespace(api: client.ApiClient, name: str) -> Cluster:
    client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata={"name": name}))
    return Cluster(api, name)


Launch = Callable[..., list[Replica]]


@pytest.fixture
def launch(
    own_plane: ControlPlane, own_api: client.ApiClient, own_cluster: Cluster, tmp_path: Path
) -> Iterator[Launch]:
    """Starts two leader-elected replicas; given proxies, each reaches the server through its
    own. Both are stopped at the end."""
    started: list[Replica] = []
    with contextlib.ExitStack() as stack:

        def start(
            namespaces: list[str] | None = None,
            proxies: list[TcpProxy] | None = None,
            extra: list[list[str]] | None = None,
        ) -> list[Replica]:
            election = [
                "--leader-elect",
                f"--leader-election-namespace={own_cluster.namespace}",
                *FAST,
            ]
            for index, name in enumerate(("a", "b")):
                kubeconfig, user = stack.enter_context(
                    service_account(own_plane, own_api, own_cluster.namespace, f"operator-{name}")
                )
                if proxies:
                    kubeconfig = proxies[index].kubeconfig(kubeconfig)
                operator = OperatorProcess(
                    kubeconfig,
                    namespaces or [own_cluster.namespace],
                    tmp_path / name,
                    [*election, *(extra[index] if extra else [])],
                )
                started.append(Replica(operator, user))
            for replica in started:
                replica.operator.start(timeout=60)
            return started

        yield start
        for replica in started:
            replica.operator.stop()


def ready_rj(cluster: Cluster, name: str, timeout: float = 30.0) -> dict[str, Any]:
    cluster.create(reactive_job(name, simple_template(**{OUTCOME_ANNOTATION: COMPLETE})))
    return cluster.wait_state(name, "Ready", timeout=timeout)


def probes_green(replica: Replica) -> bool:
    return (
        replica.operator.get("/healthz").strip() == "ok"
        and replica.operator.get("/readyz").strip() == "ready"
    )


def test_after_an_outage_the_holder_killed_hands_over_within_the_lease(
    own_plane: ControlPlane, own_cluster: Cluster, launch: Launch
) -> None:
    replicas = launch()
    leader = the_leader(replicas)
    ready_rj(own_cluster, "before")

    own_plane.stop_apiserver()
    time.sleep(20)
    own_plane.start_apiserver()
    # The leader could not renew within its deadline, so it exited (its code says so); the
    # kubelet restarts such a Pod, and so does this test. Both elector loops must still run.
    for replica in replicas:
        process = replica.operator.process
        assert process is not None
        if process.exit_code() is not None:
            assert process.exit_code() == 1 and "lost the lease" in replica.operator.logs()
            replica.operator.start(timeout=60)
    holder = the_leader(replicas)
    ready_rj(own_cluster, "after-outage", timeout=60)

    holder.operator.kill()
    killed = time.monotonic()
    successor = the_other(replicas, holder)
    the_leader([successor])
    takeover = time.monotonic() - killed
    print(f"takeover {takeover:.1f}s after SIGKILL, following a 20 s outage (lease 4 s)")
    assert takeover <= LEASE_DURATION + 5
    ready_rj(own_cluster, "after-kill")
    assert probes_green(successor)
    assert leader is holder or leader is successor  # one of the two, whichever the outage left


def first_acquisition(
    own_plane: ControlPlane, replica: Replica, since: datetime.datetime
) -> Request:
    def acquired() -> Request | None:
        leases = writes(requests_by(own_plane, replica.user), "leases")
        return next((r for r in leases if r.succeeded and r.received > since), None)

    return eventually(acquired, what=f"{replica.user} writing the Lease")


def test_a_leader_cut_off_alone_stops_before_another_acquires(
    own_plane: ControlPlane, own_cluster: Cluster, launch: Launch
) -> None:
    host, port = own_plane.host, own_plane.api_port
    proxies = [TcpProxy(host, port).start(), TcpProxy(host, port).start()]
    try:
        replicas = launch(proxies=proxies)
        leader = the_leader(replicas)
        follower = the_other(replicas, leader)
        ready_rj(own_cluster, "before")
        cut = proxies[replicas.index(leader)]
        process = leader.operator.process
        assert process is not None

        cut_at, cut_time = now(), time.monotonic()
        cut.cut()
        # Polled closely: when the old leader stopped, on the same clock as the audit log.
        while process.exit_code() is None and time.monotonic() - cut_time < 40:
            time.sleep(0.02)
        exited_at = now()
        assert process.exit_code() == 1, "the cut-off leader kept running for 40 s"
        acquired = first_acquisition(own_plane, follower, cut_at)
        print(
            f"old leader exited {(exited_at - cut_at).total_seconds():.1f}s after the cut; the "
            f"new one acquired at {(acquired.received - cut_at).total_seconds():.1f}s"
        )
        assert exited_at < acquired.received
        # The server's account: nothing from the old leader after the new one held the Lease.
        late = [r for r in requests_by(own_plane, leader.user) if r.received >= acquired.received]
        assert late == [], listed(late)

        time.sleep(max(0.0, 40 - (time.monotonic() - cut_time)))
        cut.heal()
        ready_rj(own_cluster, "after")
        assert probes_green(follower)
    finally:
        for proxy in proxies:
            proxy.stop()


def test_forty_namespaces_with_config_triggers_starve_neither_the_lease_nor_the_webhook(
    own_plane: ControlPlane,
    own_api: client.ApiClient,
    own_cluster: Cluster,
    launch: Launch,
    tmp_path: Path,
) -> None:
    watched = [new_namespace(own_api, f"{slug(own_cluster.namespace, 30)}-{i}") for i in range(40)]
    webhooks = [Webhook(_mkdir(tmp_path / f"certs-{n}")) for n in ("a", "b")]
    extra = [
        [
            "--config-triggers",
            f"--webhook-cert-dir={w.directory}",
            f"--webhook-port={w.port}",
            "--webhook-bind-address=127.0.0.1",
        ]
        for w in webhooks
    ]
    replicas = launch([c.namespace for c in watched], extra=extra)
    leader = the_leader(replicas)
    served = watched[7]
    register(own_api, served.namespace, webhooks[replicas.index(leader)], "Fail")

    coordination = client.CoordinationV1Api(own_api)
    renewals: set[object] = set()
    started = time.monotonic()
    while time.monotonic() - started < 12:
        lease = coordination.read_namespaced_lease(LEASE, own_cluster.namespace)
        assert lease.spec is not None
        renewals.add(lease.spec.renew_time)
        time.sleep(0.5)
    # Every retry period (0.5 s) a renewal: at least one per 2 s is far from starving.
    assert len(renewals) >= 6, renewals

    # In force once the API server has seen the configuration: the webhook (only it knows a
    # Job's Pods may not restart Always) then refuses such a template.
    always = simple_template()
    always["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    eventually(
        lambda: webhook_refuses(served, reactive_job("always", always)),
        what="the webhook in force",
    )
    asked = time.monotonic()
    served.create(reactive_job("reviewed", simple_template(**{OUTCOME_ANNOTATION: COMPLETE})))
    answered = time.monotonic() - asked
    print(f"a create through the webhook beside 160 watches took {answered:.2f}s")
    assert answered < 2.0
    served.wait_state("reviewed", "Ready")


def webhook_refuses(cluster: Cluster, body: dict[str, Any]) -> bool:
    try:
        cluster.create(body)
    except ApiException as refused:
        return "denied the request" in str(refused.body)
    cluster.delete(body["metadata"]["name"])
    return False


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path

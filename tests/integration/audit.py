"""What the API server's audit log says an identity did: the record no client can fake or miss.

Log lines tell what a process meant to do; they miss a write done without logging and cannot
tell two replicas apart once both log to the same place. The audit log is the server's account
of every request, keyed by the authenticated user, so each replica needs an identity of its
own (``service_account``).
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client

from testbed import ControlPlane

# Metadata only (no bodies), ServiceAccounts only (the admin, the test's own client and the
# controller manager are system:masters), one event per request: cheap enough for a session.
SERVICE_ACCOUNT_POLICY: dict[str, Any] = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived", "ResponseStarted", "Panic"],
    "rules": [
        {"level": "Metadata", "userGroups": ["system:serviceaccounts"]},
        {"level": "None"},
    ],
}

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


@dataclass(frozen=True)
class Request:
    verb: str
    resource: str  # "jobs", "reactivejobs/status"...
    namespace: str
    name: str
    code: int
    received: datetime.datetime

    @property
    def is_write(self) -> bool:
        return self.verb in WRITE_VERBS

    @property
    def succeeded(self) -> bool:
        return 200 <= self.code < 300

    def __str__(self) -> str:
        return (
            f"{self.received:%H:%M:%S.%f} {self.verb} {self.resource} "
            f"{self.namespace}/{self.name} -> {self.code}"
        )


def _request(event: dict[str, Any]) -> Request:
    ref = event.get("objectRef", {})
    resource = ref.get("resource", "")
    if ref.get("subresource"):
        resource = f"{resource}/{ref['subresource']}"
    return Request(
        verb=event["verb"],
        resource=resource,
        namespace=ref.get("namespace", ""),
        name=ref.get("name", ""),
        code=event.get("responseStatus", {}).get("code", 0),
        received=datetime.datetime.fromisoformat(event["requestReceivedTimestamp"]),
    )


def requests_by(control_plane: ControlPlane, user: str) -> list[Request]:
    """Every request ``user`` has made so far that the audit policy records, oldest first."""
    found = [_request(e) for e in control_plane.audit_events(user)]
    return sorted(found, key=lambda r: r.received)


def writes(requests: Iterable[Request], *resources: str) -> list[Request]:
    """The writes among ``requests``, to the given resources (any subresource) or to all."""
    return [
        r
        for r in requests
        if r.is_write and (not resources or r.resource.split("/")[0] in resources)
    ]


def now() -> datetime.datetime:
    """A moment to compare with ``Request.received`` (the API server shares this clock)."""
    return datetime.datetime.now(datetime.UTC)


@contextlib.contextmanager
def service_account(
    control_plane: ControlPlane, api: client.ApiClient, namespace: str, name: str
) -> Iterator[tuple[Path, str]]:
    """A kubeconfig for a new ServiceAccount bound to cluster-admin (kopf lists namespaces and
    CRDs cluster-wide), and the user name the API server, so the audit log, knows it by."""
    core = client.CoreV1Api(api)
    rbac = client.RbacAuthorizationV1Api(api)
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name))
    )
    binding = f"{namespace}-{name}"
    rbac.create_cluster_role_binding(
        client.V1ClusterRoleBinding(
            metadata=client.V1ObjectMeta(name=binding),
            role_ref=client.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="cluster-admin"
            ),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name=name, namespace=namespace)],
        )
    )
    try:
        granted = core.create_namespaced_service_account_token(
            name, namespace, client.AuthenticationV1TokenRequest(spec={"expirationSeconds": 3600})
        )
        assert granted.status is not None and granted.status.token is not None
        kubeconfig = control_plane.kubeconfig_for_token(granted.status.token, binding)
        yield kubeconfig, f"system:serviceaccount:{namespace}:{name}"
    finally:
        # Namespaces outlive their tests here (no namespace controller), a cluster-wide
        # grant must not.
        rbac.delete_cluster_role_binding(binding)

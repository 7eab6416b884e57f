"""The least-privilege contract of the chart's ServiceAccount: every right it holds, and why.

Each right is traced to the call in ``reactivejob/`` (or in kopf, which the operator runs) that
needs it. The chart tests compare what the API server says the identity may do (a
SelfSubjectRulesReview, per namespace) and what the chart renders with these sets, exactly: a
verb too many or too few fails, so the chart cannot drift from the code in either direction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import product
from typing import Any

from reactivejob.engine.elector import LeaderElection
from reactivejob_api import GROUP, PLURAL

# (apiGroup, resource, verb, resourceName); "" as resourceName: any name.
ResourceRight = tuple[str, str, str, str]
# (nonResourceURL, verb)
UrlRight = tuple[str, str]


@dataclass(frozen=True)
class Rights:
    resources: frozenset[ResourceRight] = frozenset()
    urls: frozenset[UrlRight] = frozenset()

    def __or__(self, other: Rights) -> Rights:
        return Rights(self.resources | other.resources, self.urls | other.urls)

    def difference(self, expected: Rights) -> str:
        """What differs from ``expected``, both ways, for an assertion message."""
        lines = [
            f"{label}: {sorted(found)}"
            for label, found in (
                ("granted but not in the contract", self.resources - expected.resources),
                ("in the contract but not granted", expected.resources - self.resources),
                ("URLs granted but not in the contract", self.urls - expected.urls),
                ("URLs in the contract but not granted", expected.urls - self.urls),
            )
            if found
        ]
        return "\n".join(lines) or "no difference"


def grant(group: str, resource: str, verbs: Iterable[str], name: str = "") -> Rights:
    return Rights(resources=frozenset((group, resource, verb, name) for verb in verbs))


def urls(*paths: str) -> Rights:
    return Rights(urls=frozenset((path, "get") for path in paths))


def from_rules(
    resource_rules: Iterable[Mapping[str, Any]],
    non_resource_rules: Iterable[Mapping[str, Any]] = (),
) -> Rights:
    """RBAC rules (a Role's, or a SelfSubjectRulesReview's status), one tuple per right.

    Rules are expanded rather than compared as written: the same rights can be spelt as one
    rule or several, and the review merges and splits them its own way.
    """
    resources = {
        (group, resource, verb, name)
        for rule in resource_rules
        for group, resource, verb, name in product(
            rule.get("apiGroups") or [],
            rule.get("resources") or [],
            rule.get("verbs") or [],
            rule.get("resourceNames") or [""],
        )
    }
    paths = {
        (path, verb)
        for rule in non_resource_rules
        for path, verb in product(rule.get("nonResourceURLs") or [], rule.get("verbs") or [])
    }
    return Rights(frozenset(resources), frozenset(paths))


# --- where the operator reconciles: every watched namespace, or the whole cluster -----------

RECONCILING = (
    # get: Controller.reconcile reads each ReactiveJob afresh (and _release_orphans looks
    # for a successor); list+watch: kopf's @on.event watch, and /readyz lists with limit=1;
    # patch: the finalizer, by JSON patch (Controller._set_finalizers).
    grant(GROUP, PLURAL, ["get", "list", "watch", "patch"])
    # Controller._write_status merge-patches the status subresource.
    | grant(GROUP, f"{PLURAL}/status", ["patch"])
    # No call of ours: each Job's ownerReference has blockOwnerDeletion=true, which the API
    # server (OwnerReferencesPermissionEnforcement) only lets through for whoever may update
    # the owner's finalizers.
    | grant(GROUP, f"{PLURAL}/finalizers", ["update"])
    # get: who holds a Job name on AlreadyExists; list: label-selected, per reconcile;
    # watch: kopf's label-selected watch; create: the Job, and the webhook's dry-run of it
    # (admission.check); patch: our finalizer on Jobs; delete: superseded/removed Jobs.
    | grant("batch", "jobs", ["get", "list", "watch", "create", "patch", "delete"])
    # EventRecorder posts events.k8s.io/v1 Events; kopf posts none (posting.loggers=False
    # and no kopf.event() call), so core v1 events get nothing.
    | grant("events.k8s.io", "events", ["create"])
    # Executor._diagnose lists a failed run's Pods once (label-selected); get, as the issue
    # names it, for a reader of one Pod. No watch: no Pod informer.
    | grant("", "pods", ["get", "list"])
)

# With configTriggers.enabled only: ConfigCache lists and watches both kinds (get for a
# reader of one object, kubectl's habit; the cache itself never gets).
CONFIG_TRIGGERS = grant("", "configmaps", ["get", "list", "watch"]) | grant(
    "", "secrets", ["get", "list", "watch"]
)

# With kueue.enabled only: WorkloadCache lists and watches Kueue's Workloads (never writes).
KUEUE = grant("kueue.x-k8s.io", "workloads", ["get", "list", "watch"])

# kopf itself needs nothing: with settings.scanning.disabled it neither lists nor watches
# CustomResourceDefinitions or namespaces (kopf/_core/reactor/observation.py); it learns the
# resources it serves from discovery (/apis), which is in the authenticated baseline.


# With metrics.secure (the default while metrics are on): AccessReviews asks who a scraper is
# and whether it may get /metrics.
METRICS_AUTH = grant("authentication.k8s.io", "tokenreviews", ["create"]) | grant(
    "authorization.k8s.io", "subjectaccessreviews", ["create"]
)


def leader_election(lease: str = LeaderElection.name) -> Rights:
    """In the release namespace only: LeaderElector gets, creates and replaces (update) its
    one Lease. create cannot be limited by name (RBAC has no name at create time)."""
    return grant("coordination.k8s.io", "leases", ["create"]) | grant(
        "coordination.k8s.io", "leases", ["get", "update"], name=lease
    )


# --- what every authenticated ServiceAccount holds, whatever the chart does --------------

AUTHENTICATED_BASELINE = (
    # system:basic-user (group system:authenticated): ask what one may do, and who one is.
    grant("authorization.k8s.io", "selfsubjectaccessreviews", ["create"])
    | grant("authorization.k8s.io", "selfsubjectrulesreviews", ["create"])
    | grant("authentication.k8s.io", "selfsubjectreviews", ["create"])
    # system:discovery (system:authenticated); system:public-info-viewer (everyone) grants
    # /healthz, /livez, /readyz, /version and /version/ again.
    | urls("/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*")
    | urls("/healthz", "/livez", "/readyz", "/version", "/version/")
    # system:service-account-issuer-discovery (group system:serviceaccounts).
    | urls("/.well-known/openid-configuration", "/.well-known/openid-configuration/")
    | urls("/openid/v1/jwks", "/openid/v1/jwks/")
)

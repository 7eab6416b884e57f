"""The Helm chart on the real API server: dry-run every rendered object, install, and run the
operator as the chart's ServiceAccount to prove its RBAC is enough, and no more. What helm alone
can check (lint, the values schema, the rendered RBAC, arguments and names) is in tests/chart/."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

from testbed import ControlPlane, api_client
from testbed.harness.kubelet import COMPLETE, FAILED, OUTCOME_ANNOTATION
from testbed.harness.operator_process import OperatorProcess
from testbed.manifests import install_crds
from tests.chart.rbac_contract import (
    AUTHENTICATED_BASELINE,
    METRICS_AUTH,
    RECONCILING,
    Rights,
    from_rules,
    leader_election,
)
from tests.chart.rendering import CHART, CI_VALUES, IMAGE, render, run_helm
from tests.integration.chart_install import Installed, kubeconfig_as
from tests.integration.kube_helpers import Cluster, as_json, conditions, eventually, manifest
from tests.samples import reactive_job, simple_template

STAND_IN_CRDS = {
    # No cert-manager or Prometheus operator here: schema-less stand-ins let the API server
    # dry-run those objects' apiVersion, kind and metadata (their specs are theirs to check).
    ("cert-manager.io", "Certificate", "certificates"),
    ("cert-manager.io", "Issuer", "issuers"),
    ("monitoring.coreos.com", "ServiceMonitor", "servicemonitors"),
    ("monitoring.coreos.com", "PrometheusRule", "prometheusrules"),
}


@pytest.fixture(scope="module")
def stand_in_crds(kube: client.ApiClient, tmp_path_factory: pytest.TempPathFactory) -> None:
    directory = tmp_path_factory.mktemp("stand-ins")
    for group, kind, plural in STAND_IN_CRDS:
        version = "v1"
        crd = {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {
                "group": group,
                "scope": "Namespaced",
                "names": {
                    "kind": kind,
                    "plural": plural,
                    "singular": kind.lower(),
                    "listKind": f"{kind}List",
                },
                "versions": [
                    {
                        "name": version,
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    }
                ],
            },
        }
        (directory / f"{plural}.yaml").write_text(yaml.safe_dump(crd))
    install_crds(kube, sorted(directory.glob("*.yaml")))


@pytest.mark.usefixtures("stand_in_crds", "crds")
@pytest.mark.parametrize("values", CI_VALUES, ids=[p.stem for p in CI_VALUES])
def test_every_rendered_object_passes_server_side_dry_run(
    helm: Path, values: Path, kube: client.ApiClient, namespace: str
) -> None:
    documents = render(helm, values, namespace)
    assert {"Deployment", "ServiceAccount"} <= {d["kind"] for d in documents}
    for watched in _watched_namespaces(documents):
        _ensure_namespace(kube, watched)
    failures = []
    for document in documents:
        document.setdefault("metadata", {}).setdefault("namespace", namespace)
    # A dry-run creates nothing, and Pods (the helm test) need their ServiceAccount to exist.
    for account in (d for d in documents if d["kind"] == "ServiceAccount"):
        _apply(kube, account)
    for document in documents:
        try:
            _apply(kube, document, dry_run=True)
        except ApiException as error:
            failures.append(f"{document['kind']}/{document['metadata']['name']}: {error.body}")
    assert not failures, "\n".join(failures)


def test_deployment_meets_pod_security_restricted(
    helm: Path, kube: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(kube)
    enforce = {"pod-security.kubernetes.io/enforce": "restricted"}
    core.patch_namespace(namespace, {"metadata": {"labels": enforce}})
    documents = render(helm, None, namespace)
    _apply(kube, next(d for d in documents if d["kind"] == "ServiceAccount"))
    spec = next(d for d in documents if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    # The same Pod, made privileged: only the security settings differ, so a refusal of it
    # shows the plugin judges this spec (validation needs allowPrivilegeEscalation with it).
    privileged = copy.deepcopy(spec)
    for container in privileged["containers"]:
        container["securityContext"] = {
            **container.get("securityContext", {}),
            "privileged": True,
            "allowPrivilegeEscalation": True,
        }

    def dry_run(name: str, pod_spec: dict[str, Any]) -> None:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace},
            "spec": pod_spec,
        }
        core.create_namespaced_pod(namespace, manifest(pod), dry_run="All")

    def refused() -> str | None:
        try:
            dry_run("privileged-check", privileged)
        except ApiException as error:
            if error.status == 403 and "violates PodSecurity" in str(error.body):
                return str(error.body)
            raise
        return None

    # PodSecurity reads the label from its namespace informer, which may lag the patch: only
    # once it refuses a privileged Pod does admitting ours mean anything.
    refusal = eventually(refused, what="PodSecurity refusing a privileged Pod")
    assert "securityContext.privileged=true" in refusal, refusal
    # The PodSecurity admission plugin judges the Pod the Deployment would make.
    dry_run("restricted-check", spec)


def _watched_namespaces(documents: list[dict[str, Any]]) -> set[str]:
    return {
        d["metadata"]["namespace"]
        for d in documents
        if d["kind"] in ("Role", "RoleBinding") and d["metadata"].get("namespace")
    }


def _ensure_namespace(kube: client.ApiClient, name: str) -> None:
    try:
        client.CoreV1Api(kube).create_namespace(client.V1Namespace(metadata={"name": name}))
    except ApiException as error:
        if error.status != 409:
            raise


def _apply(kube: client.ApiClient, document: dict[str, Any], *, dry_run: bool = False) -> None:
    resource = DynamicClient(kube).resources.get(  # type: ignore[no-untyped-call]
        api_version=document["apiVersion"], kind=document["kind"]
    )
    namespace = document["metadata"]["namespace"] if resource.namespaced else None
    if not resource.namespaced:
        document["metadata"].pop("namespace", None)
    resource.server_side_apply(
        body=document,
        name=document["metadata"]["name"],
        namespace=namespace,
        field_manager="chart-test",
        force_conflicts=True,
        dry_run="All" if dry_run else None,
    )


def _scenarios(cluster: Cluster) -> None:
    cluster.create(reactive_job("good", simple_template(**{OUTCOME_ANNOTATION: COMPLETE})))
    cluster.create(reactive_job("bad", simple_template(**{OUTCOME_ANNOTATION: FAILED})))
    cluster.wait_state("good", "Ready")
    cluster.wait_state("bad", "Error")
    cluster.patch("good", {"spec": {"jobTemplate": {"metadata": {"annotations": {"rev": "2"}}}}})
    uid = cluster.wait_state("good", "Ready")["metadata"]["uid"]
    assert len(cluster.jobs(uid)) == 2
    cluster.delete("good")
    eventually(lambda: cluster.get("good") is None and not cluster.jobs(uid), what="deletion")
    eventually(lambda: "JobFailed" in {e["reason"] for e in cluster.events("bad")}, what="event")


@pytest.mark.usefixtures("job_runner")
@pytest.mark.parametrize("scope", ["all-namespaces", "namespaced"])
def test_chart_rbac_is_enough(
    install: Callable[..., Installed],
    scope: str,
    kube: client.ApiClient,
    namespace: str,
    tmp_path: Path,
) -> None:
    sets = [f"watchNamespaces={{{namespace}}}"] if scope == "namespaced" else []
    installed = install(*sets)
    operator = OperatorProcess(
        installed.kubeconfig,
        [namespace] if sets else [],
        tmp_path / "operator",
        ["--leader-elect", f"--leader-election-namespace={namespace}"],
    ).start()
    try:
        _scenarios(Cluster(kube, namespace))
        # "403" alone would match timestamps; a refusal reads "403 Forbidden" (our client),
        # APIForbiddenError (kopf) or "... is forbidden" (the API server's message).
        logs = operator.logs()
        assert "orbidden" not in logs, logs[-3000:]
    finally:
        operator.stop()


@pytest.mark.usefixtures("job_runner")
@pytest.mark.parametrize("enabled", [False, True])
def test_config_triggers_follow_the_chart_and_say_so_without_its_rights(
    install: Callable[..., Installed],
    enabled: bool,
    kube: client.ApiClient,
    namespace: str,
    tmp_path: Path,
) -> None:
    """The operator started with --config-triggers as the chart's ServiceAccount: with
    configTriggers.enabled it reads ConfigMaps and Secrets; without, it is refused them, the
    object that opts in says which right is missing, and every other object reconciles."""
    installed = install(
        f"watchNamespaces={{{namespace}}}", f"configTriggers.enabled={str(enabled).lower()}"
    )
    operator = OperatorProcess(
        installed.kubeconfig, [namespace], tmp_path / "operator", ["--config-triggers"]
    ).start()
    cluster = Cluster(kube, namespace)
    try:
        template = simple_template(**{OUTCOME_ANNOTATION: COMPLETE})
        template["spec"]["template"]["spec"]["volumes"] = [
            {"name": "c", "configMap": {"name": "settings", "optional": True}}
        ]
        opted = reactive_job("opted", template)
        opted["spec"]["rerunOnConfigChange"] = True
        cluster.create(opted)
        cluster.create(reactive_job("plain", simple_template(**{OUTCOME_ANNOTATION: COMPLETE})))
        cluster.wait_state("plain", "Ready")
        if enabled:
            cluster.wait_state("opted", "Ready")
            return
        obj = cluster.wait_state("opted", "Error")
        message = conditions(obj)["Stalled"]["message"]
        assert message == (
            f"cannot watch configmaps in namespace {namespace}: enable configTriggers in the "
            "chart (it grants get, list and watch on configmaps and secrets)"
        )
        warnings = [e for e in cluster.events("opted") if e["type"] == "Warning"]
        assert [e["reason"] for e in warnings] == ["ConfigUnavailable"]
        assert warnings[0]["message"] == message
        assert cluster.jobs(obj["metadata"]["uid"]) == []
    finally:
        operator.stop()


@pytest.mark.parametrize("scope", ["all-namespaces", "namespaced"])
def test_chart_identity_is_denied_what_it_does_not_need(
    install: Callable[..., Installed],
    scope: str,
    namespace: str,
    kube: client.ApiClient,
    control_plane: ControlPlane,
) -> None:
    """The chart's ServiceAccount holds exactly the contract (tests/chart/rbac_contract.py) in
    each namespace, as the API server's authorizer resolves it: one right too many or too few
    fails. The release namespace is not a watched one, so Lease and reconcile rights are seen
    to land where they belong and nowhere else."""
    watched, elsewhere = f"{namespace[:50]}-watched", f"{namespace[:50]}-other"
    for extra in (watched, elsewhere):
        _ensure_namespace(kube, extra)
    everywhere = AUTHENTICATED_BASELINE | METRICS_AUTH  # secure metrics are on by default
    if scope == "namespaced":
        installed = install(f"watchNamespaces={{{watched}}}")
        expected = {
            namespace: everywhere | leader_election(),
            watched: everywhere | RECONCILING,
            elsewhere: everywhere,
        }
    else:
        installed = install()
        everywhere |= RECONCILING
        expected = {
            namespace: everywhere | leader_election(),
            watched: everywhere,
            elsewhere: everywhere,
        }
    # The baseline is written down, not subtracted: an identity bound to nothing must hold
    # exactly it, or the expectations above rest on a wrong assumption.
    client.CoreV1Api(kube).create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata={"name": "nobody"})
    )
    unbound = kubeconfig_as(control_plane, kube, namespace, "nobody", "nobody")
    with _client_for(unbound) as api:
        baseline = _rights_in(api, namespace)
        assert baseline == AUTHENTICATED_BASELINE, baseline.difference(AUTHENTICATED_BASELINE)

    with _client_for(installed.kubeconfig) as api:
        for where, wanted in expected.items():
            held = _rights_in(api, where)
            assert held == wanted, f"{scope}, namespace {where}:\n{held.difference(wanted)}"
        # The review is the authorizer's own rule resolver; these calls check that the
        # requests themselves meet it.
        core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
        pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
        reconciled = watched if scope == "namespaced" else namespace
        attempts: dict[str, Callable[[], object]] = {
            "list secrets": lambda: core.list_namespaced_secret(reconciled),
            "list configmaps": lambda: core.list_namespaced_config_map(reconciled),
            "create pods": lambda: core.create_namespaced_pod(reconciled, manifest(pod)),
            "leases outside the release namespace": lambda: client.CoordinationV1Api(
                api
            ).list_namespaced_lease(reconciled),
            "delete the CRD": lambda: client.ApiextensionsV1Api(
                api
            ).delete_custom_resource_definition("reactivejobs.batch.cs.sap.com"),
            "read RBAC": lambda: client.RbacAuthorizationV1Api(api).list_cluster_role(),
        }
        if scope == "namespaced":
            attempts["jobs outside its namespaces"] = lambda: batch.list_namespaced_job(elsewhere)
        for what, attempt in attempts.items():
            with pytest.raises(ApiException) as denied:
                attempt()
            assert denied.value.status == 403, what
        # ... while what it needs is allowed:
        batch.list_namespaced_job(reconciled)


def _client_for(kubeconfig: Path) -> client.ApiClient:
    return api_client(kubeconfig)


def _rights_in(api: client.ApiClient, namespace: str) -> Rights:
    """What the API server lets this client's identity do in ``namespace`` (cluster-wide
    bindings included)."""
    review = client.AuthorizationV1Api(api).create_self_subject_rules_review(
        manifest({"spec": {"namespace": namespace}})
    )
    status = as_json(review, api)["status"]
    # Incomplete means some rules could not be resolved: the set would be a lower bound only.
    assert not status.get("incomplete"), status.get("evaluationError")
    return from_rules(status.get("resourceRules") or [], status.get("nonResourceRules") or [])


def test_upgrade_keeps_the_generated_webhook_ca(
    helm: Path, control_plane: ControlPlane, kube: client.ApiClient, crds: list[str], namespace: str
) -> None:
    """The Helm-made CA must survive `helm upgrade`: a new one each time would break every
    running webhook call until the Pods restart with the new Secret."""
    release = f"ca-{hashlib.sha256(namespace.encode()).hexdigest()[:6]}"
    scoped = [
        *IMAGE,
        "--set", f"watchNamespaces={{{namespace}}}",  # the webhook only looks at this namespace
        "--set", "webhook.failurePolicy=Ignore",  # no Pod serves it here
    ]  # fmt: skip
    kubeconfig = control_plane.kubeconfig
    run_helm(helm, "install", release, str(CHART), "-n", namespace, *scoped, kubeconfig=kubeconfig)
    try:
        before = _webhook_tls(kube, namespace, release)
        run_helm(helm, "upgrade", release, str(CHART), "-n", namespace, *scoped,
                 "--set", "logLevel=DEBUG", kubeconfig=kubeconfig)  # fmt: skip
        after = _webhook_tls(kube, namespace, release)
        assert after == before
    finally:
        run_helm(helm, "uninstall", release, "-n", namespace, kubeconfig=kubeconfig)


def _webhook_tls(kube: client.ApiClient, namespace: str, release: str) -> tuple[str, str, str]:
    fullname = f"{release}-reactivejob-operator"
    secret = client.CoreV1Api(kube).read_namespaced_secret(f"{fullname}-tls", namespace)
    admission = client.AdmissionregistrationV1Api(kube)
    config_ = admission.read_validating_webhook_configuration(fullname)
    assert config_.webhooks is not None
    assert secret.data is not None
    data = {key: str(value) for key, value in secret.data.items()}
    assert config_.webhooks[0].client_config.ca_bundle == data["ca.crt"]
    return data["ca.crt"], data["tls.crt"], data["tls.key"]

"""Admission on the real API server: CEL rules in the CRD, and the operator's validating webhook
registered by URL with a self-signed CA, exactly as a cluster would call it."""

from __future__ import annotations

import base64
import copy
import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from reactivejob.admission import WEBHOOK_ID
from reactivejob_api import GROUP, PLURAL, VERSION
from testbed import ControlPlane
from testbed.certs import CertificateAuthority
from testbed.harness.operator_process import OperatorProcess
from testbed.processes import free_port
from tests.integration.kube_helpers import Cluster, eventually, manifest
from tests.samples import reactive_job, simple_template


class Webhook:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ca = CertificateAuthority(directory, "webhook-ca")
        self.port = free_port()
        self.rotate()

    def rotate(self) -> bytes:
        """A fresh serving certificate in tls.crt/tls.key; returns its PEM."""
        pair = self.ca.issue("serving", "reactivejob-webhook", hosts=("127.0.0.1",))
        (self.directory / "tls.key").write_bytes(pair.key.read_bytes())
        (self.directory / "tls.crt").write_bytes(pair.cert.read_bytes())
        return pair.cert.read_bytes()

    def served_certificate(self) -> bytes:
        context = ssl.create_default_context(cafile=str(self.ca.pair.cert))
        with context.wrap_socket(
            socket.create_connection(("127.0.0.1", self.port), timeout=2),
            server_hostname="127.0.0.1",
        ) as connection:
            der = connection.getpeercert(binary_form=True)
        assert der is not None
        return ssl.DER_cert_to_PEM_cert(der).encode()


@pytest.fixture
def webhook(tmp_path: Path) -> Webhook:
    directory = tmp_path / "certs"
    directory.mkdir()
    return Webhook(directory)


def register(kube: client.ApiClient, namespace: str, webhook: Webhook, policy: str) -> str:
    name = f"reactivejob-{namespace}"[:63]
    client.AdmissionregistrationV1Api(kube).create_validating_webhook_configuration(
        manifest(
            {
                "metadata": {"name": name},
                "webhooks": [
                    {
                        "name": "validate.reactivejobs.batch.cs.sap.com",
                        "clientConfig": {
                            "url": f"https://127.0.0.1:{webhook.port}/{WEBHOOK_ID}",
                            "caBundle": base64.b64encode(webhook.ca.pair.cert_pem()).decode(),
                        },
                        "rules": [
                            {
                                "apiGroups": [GROUP],
                                "apiVersions": [VERSION],
                                "operations": ["CREATE", "UPDATE"],
                                "resources": [PLURAL],
                            }
                        ],
                        "failurePolicy": policy,
                        "sideEffects": "None",
                        "timeoutSeconds": 10,
                        "admissionReviewVersions": ["v1"],
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": namespace}
                        },
                    }
                ],
            }
        )
    )
    return name


@pytest.fixture
def admitted(
    control_plane: ControlPlane,
    kube: client.ApiClient,
    cluster: Cluster,
    webhook: Webhook,
    tmp_path: Path,
) -> Iterator[OperatorProcess]:
    """The operator serving its webhook; registered with failurePolicy Fail (the chart's)."""
    operator = OperatorProcess(
        control_plane.kubeconfig,
        [cluster.namespace],
        tmp_path / "operator",
        extra_args=[
            f"--webhook-cert-dir={webhook.directory}",
            f"--webhook-port={webhook.port}",
            "--webhook-bind-address=127.0.0.1",
        ],
    ).start()
    name = register(kube, cluster.namespace, webhook, "Fail")
    probe = reactive_job("probe", simple_template(), cluster.namespace)

    def answering() -> bool:
        try:
            cluster.objects.create_namespaced_custom_object(
                GROUP, VERSION, cluster.namespace, PLURAL, probe, dry_run="All"
            )
        except ApiException as error:
            if "failed calling webhook" in (error.body or ""):
                return False
            raise
        return True

    eventually(answering, what="the webhook answering")
    yield operator
    client.AdmissionregistrationV1Api(kube).delete_validating_webhook_configuration(name)
    operator.stop()


def refusal(cluster: Cluster, body: dict[str, Any], **params: Any) -> str:
    with pytest.raises(ApiException) as refused:
        cluster.objects.create_namespaced_custom_object(
            GROUP, VERSION, cluster.namespace, PLURAL, body, **params
        )
    message: str = json.loads(str(refused.value.body))["message"]
    return message


FORBIDDEN = "Forbidden: must not be set"


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("name", f"spec.jobTemplate.metadata.name: {FORBIDDEN}: the operator names each Job"),
        ("generateName", f"spec.jobTemplate.metadata.generateName: {FORBIDDEN}"),
        ("namespace", f"spec.jobTemplate.metadata.namespace: {FORBIDDEN}: Jobs are created in"),
    ],
)
def test_cel_rules_refuse_template_metadata_the_operator_owns(
    cluster: Cluster, field: str, message: str
) -> None:
    template = simple_template()
    template["metadata"] = {field: "chosen-by-user"}
    assert message in refusal(cluster, reactive_job("named", template))


@pytest.mark.usefixtures("admitted")
def test_valid_object_passes_and_runs(cluster: Cluster) -> None:
    cluster.create(
        reactive_job("fine", simple_template(**{"testing.batch.cs.sap.com/outcome": "Complete"}))
    )
    cluster.wait_state("fine", "Ready")


@pytest.mark.usefixtures("admitted")
def test_invalid_pod_spec_is_refused_at_apply_with_the_servers_reason(cluster: Cluster) -> None:
    template = simple_template()
    template["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    body = refusal(cluster, reactive_job("always", template))
    assert 'admission webhook "validate.reactivejobs.batch.cs.sap.com" denied the request' in body
    assert "spec.template.spec.restartPolicy: Required value: valid values:" in body
    assert cluster.get("always") is None


@pytest.mark.usefixtures("admitted")
def test_an_update_that_breaks_the_template_is_refused(cluster: Cluster) -> None:
    cluster.create(reactive_job("kept", simple_template()))
    with pytest.raises(ApiException) as refused:
        cluster.patch(
            "kept", {"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}}}
        )
    assert "spec.template.spec.containers: Required value" in str(refused.value.body)


@pytest.mark.usefixtures("admitted")
def test_objects_being_deleted_are_let_through(cluster: Cluster) -> None:
    body = reactive_job("leaving", simple_template())
    body["metadata"]["finalizers"] = ["example.com/hold"]
    cluster.create(body)
    cluster.delete("leaving")
    broken = {
        "spec": {"jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Always"}}}}}
    }
    assert cluster.patch("leaving", broken)["metadata"]["deletionTimestamp"]


def test_webhook_down_with_failure_policy_fail_refuses_writes_but_not_deletes(
    cluster: Cluster, kube: client.ApiClient, admitted: OperatorProcess
) -> None:
    cluster.create(reactive_job("before", simple_template()))
    admitted.stop()
    body = refusal(cluster, reactive_job("while-down", simple_template()))
    assert "failed calling webhook" in body
    cluster.delete("before")  # DELETE is not sent to the webhook: cleanup never depends on it
    eventually(lambda: cluster.get("before") is None, what="deletion without the webhook")


def test_failure_policy_ignore_lets_writes_through_when_down(
    cluster: Cluster, kube: client.ApiClient, webhook: Webhook
) -> None:
    name = register(kube, cluster.namespace, webhook, "Ignore")
    try:
        cluster.create(reactive_job("unchecked", simple_template()))
        assert cluster.get("unchecked") is not None
    finally:
        client.AdmissionregistrationV1Api(kube).delete_validating_webhook_configuration(name)


@pytest.mark.usefixtures("admitted")
def test_tls_files_rotate_without_a_restart(webhook: Webhook, cluster: Cluster) -> None:
    before = webhook.served_certificate()
    rotated = webhook.rotate()
    assert rotated != before
    eventually(
        lambda: webhook.served_certificate() == rotated, timeout=30, what="the new certificate"
    )
    cluster.create(
        reactive_job("after-rotation", simple_template())
    )  # the API server still trusts it


WIDE = "x" * 100


def pod(body: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = body["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


def job_spec(body: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = body["spec"]["jobTemplate"]["spec"]
    return spec


BAD_INPUT: list[tuple[str, Any, str]] = [
    ("missing containers", lambda b: pod(b).pop("containers"),
     "spec.jobTemplate.spec.template.spec.containers: Required value"),
    ("empty containers", lambda b: pod(b).update(containers=[]),
     "spec.template.spec.containers: Required value"),
    ("bad restartPolicy", lambda b: pod(b).update(restartPolicy="Sometimes"),
     "spec.template.spec.restartPolicy: Unsupported value"),
    ("invalid name", lambda b: b["metadata"].update(name="Not_A_Name"),
     'metadata.name: Invalid value: "Not_A_Name"'),
    ("name too long for the Job's labels", lambda b: b["metadata"].update(name="n" * 70),
     "must be no more than 63 bytes"),
    ("unicode label value", lambda b: b["spec"]["jobTemplate"]["metadata"].update(labels={"team": "zürich"}),  # noqa: E501
     'metadata.labels: Invalid value: "zürich"'),
    ("wrong type", lambda b: job_spec(b).update(backoffLimit="three"),
     "spec.jobTemplate.spec.backoffLimit in body must be of type integer"),
    ("unknown field (kubectl's strict validation)", lambda b: job_spec(b).update(colour="blue"),
     'unknown field "spec.jobTemplate.spec.colour"'),
    ("template over the 1.5 MiB object limit",
     lambda b: pod(b)["containers"][0].update(env=[{"name": f"V{i:05d}", "value": WIDE} for i in range(16000)]),  # noqa: E501
     "request is too large"),
]  # fmt: skip


@pytest.mark.usefixtures("admitted")
@pytest.mark.parametrize(("case", "edit", "expected"), BAD_INPUT)
def test_bad_input_gets_a_clear_refusal(
    cluster: Cluster, case: str, edit: Any, expected: str
) -> None:
    body = reactive_job("bad-input", simple_template())
    body["spec"]["jobTemplate"]["metadata"] = {}
    edit(body)
    answer = refusal(cluster, copy.deepcopy(body), field_validation="Strict")
    print(f"{case}: {answer[:300]}")
    assert expected in answer


@pytest.mark.usefixtures("admitted")
def test_unicode_annotations_and_a_large_template_are_accepted(cluster: Cluster) -> None:
    template = simple_template(
        **{"example.com/note": "Grüße, 世界 ✓", "testing.batch.cs.sap.com/outcome": "Complete"}
    )
    template["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": f"V{i:05d}", "value": WIDE} for i in range(5000)
    ]  # about 600 KB: large, but under the object limit
    cluster.create(reactive_job("roomy", template))
    obj = cluster.wait_state("roomy", "Ready", timeout=60)
    job = cluster.job(obj["status"]["currentJobName"])
    assert job is not None
    assert job["metadata"]["annotations"]["example.com/note"] == "Grüße, 世界 ✓"

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

from reactivejob.serve.admission import WEBHOOK_ID
from reactivejob_api import GROUP, PLURAL, VERSION
from reactivejob_api.vocabulary import ANNOTATION_RERUN, LABEL_CONTROLLER_NAME
from testbed import ControlPlane
from testbed.certs import CertificateAuthority
from testbed.harness.operator_process import OperatorProcess
from testbed.processes import free_port
from tests.chart.rendering import render
from tests.integration.kube_helpers import Cluster, as_json, eventually, manifest
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


WEBHOOK_NAME = "validate.reactivejobs.batch.cs.sap.com"
# The API server's words for this webhook's refusal; only the webhook can put them in a message,
# so they tell its refusals apart from the CRD schema's, CEL's and the server's own validation.
DENIED = f'admission webhook "{WEBHOOK_NAME}" denied the request: '
# The webhook's words before the reason the API server gave for the Job in the dry-run.
JOB_REJECTED = "spec.jobTemplate is invalid: a Job made from it would be rejected: "
OUTCOME = "testing.batch.cs.sap.com/outcome"


def chart_match_conditions(helm: Path) -> list[dict[str, str]]:
    """The matchConditions of the chart's own webhook registration, as it renders them."""
    documents = render(helm, None, "rendered")
    registration = next(d for d in documents if d["kind"] == "ValidatingWebhookConfiguration")
    conditions: list[dict[str, str]] = registration["webhooks"][0]["matchConditions"]
    return conditions


def register(
    kube: client.ApiClient,
    namespace: str,
    webhook: Webhook,
    policy: str,
    match_conditions: list[dict[str, str]] | None = None,
) -> str:
    name = f"reactivejob-{namespace}"[:63]
    client.AdmissionregistrationV1Api(kube).create_validating_webhook_configuration(
        manifest(
            {
                "metadata": {"name": name},
                "webhooks": [
                    {
                        "name": WEBHOOK_NAME,
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
                        "matchConditions": match_conditions or [],
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
def admitted(  # noqa: PLR0917 - pytest passes fixtures by name
    control_plane: ControlPlane,
    kube: client.ApiClient,
    cluster: Cluster,
    webhook: Webhook,
    tmp_path: Path,
    helm: Path,
) -> Iterator[OperatorProcess]:
    """The operator serving its webhook; registered as the chart does: failurePolicy Fail, and
    the chart's matchConditions."""
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
    name = register(kube, cluster.namespace, webhook, "Fail", chart_match_conditions(helm))
    probe = reactive_job("probe", simple_template(), cluster.namespace)
    eventually(
        lambda: created_unless_the_call_failed(cluster, probe, dry_run="All"),
        what="the webhook answering",
    )
    yield operator
    client.AdmissionregistrationV1Api(kube).delete_validating_webhook_configuration(name)
    operator.stop()


def message_of(error: ApiException) -> str:
    message: str = json.loads(str(error.body))["message"]
    return message


def refusal(cluster: Cluster, body: dict[str, Any], **params: Any) -> str:
    with pytest.raises(ApiException) as refused:
        cluster.objects.create_namespaced_custom_object(
            GROUP, VERSION, cluster.namespace, PLURAL, body, **params
        )
    return message_of(refused.value)


def created_unless_the_call_failed(cluster: Cluster, body: dict[str, Any], **params: Any) -> bool:
    """False while the API server cannot reach the webhook (or has yet to see its
    configuration change); any other refusal is the test's failure, not a reason to wait."""
    try:
        cluster.objects.create_namespaced_custom_object(
            GROUP, VERSION, cluster.namespace, PLURAL, body, **params
        )
    except ApiException as error:
        if "failed calling webhook" in message_of(error):
            return False
        raise
    return True


def webhook_reason(message: str) -> str:
    """The webhook's own reason, once the message shows that the webhook refused (a schema or
    server refusal with the same words would otherwise pass for it)."""
    assert message.startswith(DENIED), message
    return message.removeprefix(DENIED)


def not_from_the_webhook(message: str) -> str:
    """The message, once it shows that a layer before the webhook refused: the webhook's name
    is in both a denial and a failed call."""
    assert WEBHOOK_NAME not in message, message
    assert "admission webhook" not in message, message
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
@pytest.mark.usefixtures("admitted")
def test_cel_rules_refuse_template_metadata_the_operator_owns(
    cluster: Cluster, field: str, message: str
) -> None:
    # The webhook checks these too (for CRDs without the rules); with both in place CEL
    # refuses first, because the server validates the object before calling webhooks.
    template = simple_template()
    template["metadata"] = {field: "chosen-by-user"}
    assert message in not_from_the_webhook(refusal(cluster, reactive_job("named", template)))


@pytest.mark.usefixtures("admitted")
def test_a_name_over_63_characters_is_refused_saying_the_limit_and_why(cluster: Cluster) -> None:
    # 64 to 253 characters is a valid object name, but the name is a label value on every
    # Job: without the rule such an object was accepted and could never run.
    long = "n" * 64
    message = not_from_the_webhook(refusal(cluster, reactive_job(long, simple_template())))
    assert "metadata.name must be no more than 63 characters" in message, message
    assert "label batch.cs.sap.com/controller-name" in message, message
    assert cluster.get(long) is None
    # The longest name that is accepted runs: its Job's name is cut to fit, the label is whole.
    longest = "m" * 62 + "x"
    cluster.create(reactive_job(longest, simple_template(**{OUTCOME: "Complete"})))
    ready = cluster.wait_state(longest, "Ready")
    job = cluster.job(ready["status"]["currentJobName"])
    assert job is not None and len(job["metadata"]["name"]) == 63
    assert job["metadata"]["labels"][LABEL_CONTROLLER_NAME] == longest


@pytest.mark.usefixtures("admitted")
def test_valid_object_passes_and_runs(cluster: Cluster) -> None:
    cluster.create(reactive_job("fine", simple_template(**{OUTCOME: "Complete"})))
    cluster.wait_state("fine", "Ready")


@pytest.mark.usefixtures("admitted")
def test_invalid_pod_spec_is_refused_at_apply_with_the_servers_reason(cluster: Cluster) -> None:
    template = simple_template()
    template["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    reason = webhook_reason(refusal(cluster, reactive_job("always", template)))
    # A Pod may restart Always, a Job's Pod may not: only the Job's validation knows that.
    assert reason.startswith(JOB_REJECTED), reason
    assert "spec.template.spec.restartPolicy: Required value: valid values:" in reason
    assert cluster.get("always") is None


@pytest.mark.usefixtures("admitted")
def test_a_rerun_token_over_63_characters_is_refused_naming_the_annotation(
    cluster: Cluster,
) -> None:
    body = reactive_job("rerun", simple_template(**{OUTCOME: "Complete"}))
    body["metadata"]["annotations"] = {ANNOTATION_RERUN: "x" * 64}
    reason = webhook_reason(refusal(cluster, body))
    assert reason == (
        f"metadata.annotations[{ANNOTATION_RERUN}]: must be at most 63 characters, not 64"
    )
    body["metadata"]["annotations"] = {ANNOTATION_RERUN: "x" * 63}
    cluster.create(body)
    with pytest.raises(ApiException) as refused:  # on update too, a metadata-only change
        cluster.patch("rerun", {"metadata": {"annotations": {ANNOTATION_RERUN: "y" * 70}}})
    assert "must be at most 63 characters, not 70" in webhook_reason(message_of(refused.value))


@pytest.mark.usefixtures("admitted")
def test_an_update_that_breaks_the_template_is_refused(cluster: Cluster) -> None:
    cluster.create(reactive_job("kept", simple_template(**{OUTCOME: "Complete"})))
    # Finished, the operator writes to it no more: any change from here is the refused patch's.
    before = cluster.wait_state("kept", "Ready")
    with pytest.raises(ApiException) as refused:
        cluster.patch(
            "kept", {"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}}}
        )
    reason = webhook_reason(message_of(refused.value))
    assert reason.startswith(JOB_REJECTED), reason
    assert "spec.template.spec.containers: Required value" in reason
    after = cluster.get("kept")
    assert after is not None
    assert after["spec"] == before["spec"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


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
    # Accepted: the object is gone, or (the operator had put its finalizer on) marked deleted.
    eventually(
        lambda: (
            (gone := cluster.get("before")) is None or gone["metadata"].get("deletionTimestamp")
        ),
        what="deletion without the webhook",
    )


def test_with_no_webhook_serving_a_deleting_object_can_still_lose_its_finalizers(
    cluster: Cluster, admitted: OperatorProcess
) -> None:
    """An uninstall half done: the registration stays (failurePolicy Fail), no replica serves
    it, and someone removes the finalizer by hand. The chart's matchConditions let that last
    write through; without them the object could never go."""
    body = reactive_job("stuck", simple_template())
    body["metadata"]["finalizers"] = ["example.com/cleanup"]
    cluster.create(body)
    admitted.stop()
    cluster.delete("stuck")
    assert "failed calling webhook" in refusal(cluster, reactive_job("new", simple_template()))
    cluster.patch("stuck", {"metadata": {"finalizers": None}})
    eventually(lambda: cluster.get("stuck") is None, what="the deleted object gone")


def test_failure_policy_ignore_lets_writes_through_when_down(
    cluster: Cluster, kube: client.ApiClient, webhook: Webhook
) -> None:
    """Nothing serves the webhook in this test. Under Fail the same write is refused first, so
    the pass under Ignore is the policy's doing, not a configuration the server never used."""
    configurations = client.AdmissionregistrationV1Api(kube)
    body = reactive_job("unchecked", simple_template())
    name = register(kube, cluster.namespace, webhook, "Fail")
    try:
        eventually(
            lambda: not created_unless_the_call_failed(cluster, body, dry_run="All"),
            what="the API server calling the registered webhook",
        )
        down = refusal(cluster, body)
        assert f'failed calling webhook "{WEBHOOK_NAME}"' in down
        assert cluster.get("unchecked") is None

        configurations.patch_validating_webhook_configuration(
            name, [{"op": "replace", "path": "/webhooks/0/failurePolicy", "value": "Ignore"}]
        )
        eventually(
            lambda: created_unless_the_call_failed(cluster, body),
            what="the write let through under Ignore",
        )
        assert cluster.get("unchecked") is not None
        # Still registered, still unserved: the pass is Ignore's, not a removed webhook's.
        registered = as_json(configurations.read_validating_webhook_configuration(name), kube)
        assert [w["failurePolicy"] for w in registered["webhooks"]] == ["Ignore"]
    finally:
        configurations.delete_validating_webhook_configuration(name)


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


# Which layer refuses, in the order the API server applies them (schema and metadata in one
# step); a refusal ends the request, so no later layer sees it.
DECODING = "decoding"  # the API server's strict decoding (fieldValidation=Strict)
SCHEMA = "CRD schema"  # the CRD's OpenAPI schema, with the CEL rules
SERVER = "API server"  # its own validation of every object's metadata
WEBHOOK = "webhook"  # ours: a dry-run of the Job the template makes
STORAGE = "etcd"  # after admission: the webhook's dry-run never reaches etcd, so it admits

BAD_INPUT: list[tuple[str, str, Any, str]] = [
    ("missing containers", SCHEMA, lambda b: pod(b).pop("containers"),
     "spec.jobTemplate.spec.template.spec.containers: Required value"),
    ("empty containers", WEBHOOK, lambda b: pod(b).update(containers=[]),
     "spec.template.spec.containers: Required value"),
    ("bad restartPolicy", WEBHOOK, lambda b: pod(b).update(restartPolicy="Sometimes"),
     "spec.template.spec.restartPolicy: Unsupported value"),
    ("invalid name", SERVER, lambda b: b["metadata"].update(name="Not_A_Name"),
     'metadata.name: Invalid value: "Not_A_Name"'),
    ("name too long for the Job's labels", SCHEMA, lambda b: b["metadata"].update(name="n" * 70),
     "metadata.name must be no more than 63 characters"),
    ("unicode label value", WEBHOOK,
     lambda b: b["spec"]["jobTemplate"]["metadata"].update(labels={"team": "zürich"}),
     'metadata.labels: Invalid value: "zürich"'),
    ("wrong type", SCHEMA, lambda b: job_spec(b).update(backoffLimit="three"),
     "spec.jobTemplate.spec.backoffLimit in body must be of type integer"),
    ("unknown field (kubectl's strict validation)", DECODING,
     lambda b: job_spec(b).update(colour="blue"),
     'unknown field "spec.jobTemplate.spec.colour"'),
    ("template over the 1.5 MiB object limit", STORAGE,
     lambda b: pod(b)["containers"][0].update(env=[{"name": f"V{i:05d}", "value": WIDE} for i in range(16000)]),  # noqa: E501
     "request is too large"),
]  # fmt: skip


@pytest.mark.usefixtures("admitted")
@pytest.mark.parametrize(
    ("case", "layer", "edit", "expected"), BAD_INPUT, ids=[case[0] for case in BAD_INPUT]
)
def test_bad_input_gets_a_clear_refusal(
    cluster: Cluster, case: str, layer: str, edit: Any, expected: str
) -> None:
    body = reactive_job("bad-input", simple_template())
    body["spec"]["jobTemplate"]["metadata"] = {}
    edit(body)
    answer = refusal(cluster, copy.deepcopy(body), field_validation="Strict")
    print(f"{case} ({layer}): {answer[:300]}")
    if layer == WEBHOOK:
        reason = webhook_reason(answer)
        assert reason.startswith(JOB_REJECTED), reason
        assert expected in reason
    else:
        assert expected in not_from_the_webhook(answer)


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

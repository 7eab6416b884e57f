"""Another admission webhook refuses our Job creates, as Kyverno or Gatekeeper policies do,
with whatever HTTP code its policy engine picks: each refusal is a JobRejected that says who
refused and why, never a silent retry."""

from __future__ import annotations

import base64
import contextlib
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from kubernetes import client

from testbed.certs import CertificateAuthority
from testbed.harness.kubelet import COMPLETE, OUTCOME_ANNOTATION
from testbed.harness.operator_process import OperatorProcess
from tests.integration.kube_helpers import Cluster, conditions, eventually, job_create_webhook
from tests.samples import reactive_job, simple_template

POLICY = "deny-jobs.policies.example.com"
REASON = "Jobs here need the label team (policy require-team)"


@contextlib.contextmanager
def denying_webhook(directory: Path, code: int) -> Iterator[tuple[int, bytes]]:
    """An HTTPS webhook that denies every review with ``code``; yields its port and CA."""
    ca = CertificateAuthority(directory, "policy-ca")
    pair = ca.issue("policy", "policy", hosts=("127.0.0.1",))

    class Deny(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            answer = {
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "response": {
                    "uid": review["request"]["uid"],
                    "allowed": False,
                    "status": {"code": code, "message": REASON},
                },
            }
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Deny)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pair.cert, pair.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], ca.pair.cert_pem()
    finally:
        server.shutdown()


@pytest.mark.parametrize("code", [400, 403, 500])
def test_a_job_denied_by_another_webhook_is_a_rejection_naming_it(
    cluster: Cluster,
    kube: client.ApiClient,
    operator: OperatorProcess,
    tmp_path: Path,
    code: int,
) -> None:
    admission = client.AdmissionregistrationV1Api(kube)
    with denying_webhook(tmp_path, code) as (port, ca):
        name = f"deny-{cluster.namespace}"[:63]
        config = {"url": f"https://127.0.0.1:{port}/validate",
                  "caBundle": base64.b64encode(ca).decode()}  # fmt: skip
        admission.create_validating_webhook_configuration(
            job_create_webhook(name, POLICY, config, cluster.namespace)
        )
        try:
            cluster.create(
                reactive_job("denied", simple_template(**{OUTCOME_ANNOTATION: COMPLETE}))
            )
            obj = cluster.wait_state("denied", "Error")
            found = conditions(obj)
            assert found["Stalled"]["reason"] == "JobRejected"
            said = found["Ready"]["message"]
            assert f'admission webhook "{POLICY}" denied the request: {REASON}' in said, said
            assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
            events = eventually(
                lambda: [e for e in cluster.events("denied") if e["reason"] == "JobRejected"],
                what="the JobRejected Event",
            )
            assert POLICY in events[0]["message"], events
            assert cluster.jobs(obj["metadata"]["uid"]) == []
        finally:
            admission.delete_validating_webhook_configuration(name)

"""The webhook's HTTPS server, run for real on loopback with a certificate of the test's: it
serves only reviews the API server could send for our registration, bodies up to what the API
server can send, and a few at a time."""

from __future__ import annotations

import asyncio
import copy
import json
import ssl
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest

from reactivejob.serve.webhook_server import (
    MAX_CONCURRENT_REVIEWS,
    MAX_REVIEW_BYTES,
    ReloadingWebhookServer,
    review_problem,
)
from testbed.certs import CertificateAuthority
from testbed.processes import free_port

REVIEW: dict[str, Any] = {
    "apiVersion": "admission.k8s.io/v1",
    "kind": "AdmissionReview",
    "request": {
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": "batch.cs.sap.com", "version": "v1alpha1", "kind": "ReactiveJob"},
        "resource": {
            "group": "batch.cs.sap.com",
            "version": "v1alpha1",
            "resource": "reactivejobs",
        },
        "namespace": "team-a",
        "operation": "CREATE",
        "object": {"metadata": {"name": "migrate", "namespace": "team-a"}, "spec": {}},
    },
}


def edited(path: list[str], value: Any) -> dict[str, Any]:
    review = copy.deepcopy(REVIEW)
    node = review
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return review


def test_a_review_as_the_api_server_sends_it_passes() -> None:
    assert review_problem(REVIEW) is None
    # kubectl create -n: the object may carry no namespace of its own.
    assert review_problem(edited(["request", "object", "metadata"], {"name": "m"})) is None


@pytest.mark.parametrize(
    ("path", "value", "said"),
    [
        (["kind"], "Pod", "not an AdmissionReview"),
        (["apiVersion"], "admission.k8s.io/v1beta1", "only admission.k8s.io/v1"),
        (["request", "uid"], "", "request.uid is missing"),
        (["request", "kind"], {"group": "", "version": "v1", "kind": "Secret"}, "only ReactiveJob"),
        (["request", "resource"], {"resource": "secrets"}, "only ReactiveJob"),
        (["request", "operation"], "DELETE", "only CREATE and UPDATE"),
        (["request", "namespace"], "", "request.namespace are required"),
        (["request", "object", "metadata", "namespace"], "kube-system", "not in request.namespace"),
    ],
)
def test_a_review_the_api_server_would_not_send_is_named(
    path: list[str], value: Any, said: str
) -> None:
    problem = review_problem(edited(path, value))
    assert problem is not None and said in problem, problem


async def _serve_and_send(tmp_path: Path, bodies: list[bytes]) -> tuple[list[int], int]:
    """Statuses of ``bodies`` sent at once, and the most reviews the handler held at once."""
    ca = CertificateAuthority(tmp_path, "webhook-ca")
    pair = ca.issue("serving", "webhook", hosts=("127.0.0.1",))
    (tmp_path / "tls.crt").write_bytes(pair.cert.read_bytes())
    (tmp_path / "tls.key").write_bytes(pair.key.read_bytes())
    port = free_port()
    inside, most = 0, 0

    async def slow(review: Any, **_: Any) -> dict[str, Any]:
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        await asyncio.sleep(0.2)  # a dry-run call takes this long
        inside -= 1
        return {"response": {"uid": review["request"]["uid"], "allowed": True}}

    server = ReloadingWebhookServer(tmp_path, addr="127.0.0.1", port=port)
    serving = cast(AsyncGenerator[Any, None], server(slow))
    await anext(serving)
    context = ssl.create_default_context(cafile=str(ca.pair.cert))
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http:

            async def send(body: bytes) -> int:
                url = f"https://127.0.0.1:{port}/validate"
                async with http.post(url, data=body) as answer:
                    return answer.status

            statuses = await asyncio.gather(*(send(b) for b in bodies))
    finally:
        await serving.aclose()
    return list(statuses), most


def test_reviews_are_served_a_few_at_a_time(tmp_path: Path) -> None:
    body = json.dumps(REVIEW).encode()
    statuses, most = asyncio.run(_serve_and_send(tmp_path, [body] * 12))
    assert statuses == [200] * 12
    assert most == MAX_CONCURRENT_REVIEWS


def test_a_forged_or_oversized_request_is_refused_before_any_review(tmp_path: Path) -> None:
    forged = json.dumps(edited(["request", "resource"], {"resource": "secrets"})).encode()
    oversized = b" " * (MAX_REVIEW_BYTES + 1)
    statuses, most = asyncio.run(_serve_and_send(tmp_path, [forged, oversized]))
    assert statuses == [400, 413]
    assert most == 0  # the handler (and so the dry-run) never ran

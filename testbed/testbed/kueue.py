"""Real Kueue (sigs.k8s.io/kueue) as a host process against a test-bed control plane.

``with Kueue(control_plane) as kueue:`` installs Kueue's CRDs from the pinned module's source,
starts the ``kueue`` binary with the control plane's admin kubeconfig, and registers its
admission webhooks (and the CRDs' conversion webhook) at ``https://127.0.0.1:<port>``: the
kube-apiserver runs on this host, so it reaches Kueue on loopback with no Service, no Pod
and no image. Leaving the block removes the webhooks first, then stops the process, so no Job
create is ever refused by a dead webhook.

Why a host process and not a Pod: Kueue is not what the tests examine, only what they run
against; on loopback it needs no image, no RBAC, no pod network, and starts in seconds.

Kueue runs as it is configured in a cluster, with these differences: its own certificate
management is off (the test bed issues the webhook certificate, SAN 127.0.0.1); leader
election is off; only the ``batch/job`` integration; and the visibility API server is off (it
needs an APIService and a port of its own). With its certificate management off, Kueue reads a
metrics certificate from the fixed path ``/etc/kueue/metrics/certs``: the process runs in a
private mount namespace (root, as the node) whose ``/etc`` is an overlay with that folder in
the run dir, so the host's ``/etc`` never changes.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from . import binaries
from .certs import CertificateAuthority
from .clients import api_client
from .cluster import ControlPlane
from .errors import ControlPlaneError
from .manifests import install_crd_documents, load_documents
from .processes import ManagedProcess, free_port
from .versions import KUEUE

GROUP = "kueue.x-k8s.io"
VERSION = "v1beta2"
NAMESPACE = "kueue-system"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
PRIORITY_CLASS_LABEL = "kueue.x-k8s.io/priority-class"
JOB_UID_LABEL = "kueue.x-k8s.io/job-uid"
# Set on a Job while Kueue suspends it (eviction, preemption), removed once it is stopped.
STOPPING_ANNOTATION = "kueue.x-k8s.io/stopping"
MUTATING_WEBHOOKS = "kueue-mutating-webhook-configuration"
VALIDATING_WEBHOOKS = "kueue-validating-webhook-configuration"
# The webhooks kept from Kueue's manifests: its own kinds and batch/v1 Jobs. The rest (Pods,
# Deployments, other frameworks) are left out: they would intercept objects no test gives it.
WEBHOOK_GROUPS = frozenset({GROUP, "batch"})
# The namespace that receives the dry-run Job which proves the webhook is called.
_PROBE_NAMESPACE = "default"


def module_source() -> Path:
    """Kueue's module source (CRDs, webhook manifests) at the pinned version, downloaded into
    the Go module cache if a build has not done so already."""
    go = shutil.which("go")
    if go is None:
        raise ControlPlaneError(
            "the Go toolchain (`go`) is not on PATH; it finds Kueue's CRDs in the module cache.",
            fix="install Go 1.26 or newer (https://go.dev/doc/install)",
        )
    done = subprocess.run(
        [go, "mod", "download", "-json", KUEUE.pinned_module],
        cwd=KUEUE.module_path,
        env={**os.environ, "GOFLAGS": "-mod=readonly"},
        capture_output=True,
        text=True,
        check=False,
    )
    info = json.loads(done.stdout) if done.stdout.strip() else {}
    if done.returncode != 0 or "Dir" not in info:
        raise ControlPlaneError(
            f"`go mod download {KUEUE.pinned_module}` failed in {KUEUE.module_path}: "
            f"{info.get('Error') or done.stderr.strip()[-800:]}",
            fix="check the network to the Go module proxy, then run again",
        )
    return Path(info["Dir"])


class Kueue:
    """Kueue against ``control_plane``, until the ``with`` block ends."""

    def __init__(
        self,
        control_plane: ControlPlane,
        *,
        feature_gates: Mapping[str, bool] | None = None,
        startup_timeout: float = 90.0,
        out: TextIO | None = None,
    ) -> None:
        """``feature_gates`` add to (or override) the ones this class turns off."""
        self.control_plane = control_plane
        self.feature_gates = {"VisibilityOnDemand": False, **(feature_gates or {})}
        self.startup_timeout = startup_timeout
        self._out = out
        self.process: ManagedProcess | None = None
        self.workdir: Path | None = None
        self.webhook_port = self.health_port = self.metrics_port = 0
        self.startup_seconds = 0.0
        # Seconds from the start to: CRDs served, /readyz, the webhook answering.
        self.timings: dict[str, float] = {}
        self.converted_crds: list[str] = []

    def __enter__(self) -> Kueue:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def api(self) -> client.ApiClient:
        if not hasattr(self, "_api"):
            self._api = api_client(self.control_plane.kubeconfig)
        return self._api

    # -- start -----------------------------------------------------------------------------

    def start(self) -> Kueue:
        if os.geteuid() != 0:
            raise ControlPlaneError(
                "Kueue needs root here: it runs in a private mount namespace (see testbed.kueue)",
                fix="run the e2e tier as root, as the real node needs anyway",
            )
        binary = binaries.ensure_built(KUEUE, out=self._out)
        source = module_source()
        if self.control_plane.workdir is None:
            raise ControlPlaneError("the control plane is not running", fix="start it first")
        self.workdir = self.control_plane.workdir / "kueue"
        self.workdir.mkdir()
        self.webhook_port, self.health_port, self.metrics_port = (free_port() for _ in "whm")
        started = time.monotonic()
        try:
            ca = self._write_pki()
            _ensure_namespace(self.api, NAMESPACE)
            self._install_crds(source, ca)
            self.timings["crds"] = time.monotonic() - started
            self._launch(binary)
            self._wait_ready()
            self.timings["ready"] = time.monotonic() - started
            self._register_webhooks(source, ca)
            self._wait_webhook_answers()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = self.timings["webhook"] = time.monotonic() - started
        return self

    @property
    def _dir(self) -> Path:
        if self.workdir is None:
            raise ControlPlaneError("Kueue is not running", fix="call start() first")
        return self.workdir

    def _write_pki(self) -> bytes:
        """The webhook's serving certificate (tls.crt/tls.key, as controller-runtime reads its
        cert dir), also used as the metrics certificate; returns the CA bundle."""
        certs = self._dir / "certs"
        certs.mkdir()
        ca = CertificateAuthority(self._dir, "kueue-webhook-ca")
        serving = ca.issue("tls", "kueue-webhook", hosts=("127.0.0.1",))
        shutil.move(serving.cert, certs / "tls.crt")
        shutil.move(serving.key, certs / "tls.key")
        metrics = self._dir / "etc-upper" / "kueue" / "metrics" / "certs"
        metrics.mkdir(parents=True)
        (self._dir / "etc-work").mkdir()
        for name in ("tls.crt", "tls.key"):
            shutil.copy2(certs / name, metrics / name)
        return ca.pair.cert_pem()

    def _install_crds(self, source: Path, ca_bundle: bytes) -> None:
        """Kueue's CRDs with the conversion webhook its kustomization patches in, pointed here."""
        crd_dir = source / "config" / "components" / "crd"
        conversions: dict[str, dict[str, Any]] = {}
        kustomization = yaml.safe_load((crd_dir / "kustomization.yaml").read_text())
        for patch in kustomization.get("patches", []):
            path = patch.get("path", "")
            if not Path(path).name.startswith("webhook_in_"):
                continue
            for document in load_documents(crd_dir / path):
                conversion = document["spec"]["conversion"]
                conversion["webhook"]["clientConfig"] = self._client_config("/convert", ca_bundle)
                conversions[document["metadata"]["name"]] = conversion
        documents = []
        for base in sorted((crd_dir / "bases").glob("*.yaml")):
            for document in load_documents(base):
                conversion = conversions.get(document["metadata"]["name"])
                if conversion is not None:
                    document["spec"]["conversion"] = conversion
                documents.append(document)
        install_crd_documents(self.api, documents, timeout=self.startup_timeout)
        self.converted_crds = sorted(conversions)

    def _client_config(self, path: str, ca_bundle: bytes) -> dict[str, str]:
        return {
            "url": f"https://127.0.0.1:{self.webhook_port}{path}",
            "caBundle": b64encode(ca_bundle).decode(),
        }

    def _write_config(self) -> Path:
        configuration = {
            "apiVersion": "config.kueue.x-k8s.io/v1beta2",
            "kind": "Configuration",
            "namespace": NAMESPACE,
            "health": {"healthProbeBindAddress": f"127.0.0.1:{self.health_port}"},
            "metrics": {"bindAddress": f"127.0.0.1:{self.metrics_port}"},
            "webhook": {
                "host": "127.0.0.1",
                "port": self.webhook_port,
                "certDir": str(self._dir / "certs"),
            },
            "leaderElection": {"leaderElect": False},
            "internalCertManagement": {"enable": False},
            "manageJobsWithoutQueueName": False,
            "integrations": {"frameworks": ["batch/job"]},
            # As Kueue's own manifests ship it: faster than the client's default 20/30.
            "clientConnection": {"qps": 50, "burst": 100},
            "featureGates": self.feature_gates,
        }
        path = self._dir / "config.yaml"
        path.write_text(yaml.safe_dump(configuration))
        return path

    def _launch(self, binary: Path) -> None:
        config = self._write_config()
        overlay = (
            f"lowerdir=/etc,upperdir={self._dir / 'etc-upper'},workdir={self._dir / 'etc-work'}"
        )
        # /etc is private to this namespace from here: the host's stays as it was.
        script = f'set -eu\nmount -t overlay kueue-etc -o {overlay} /etc\nexec "$@"'
        argv = [
            "unshare", "--mount", "--propagation=private", "sh", "-c", script, "sh",
            str(binary), f"--config={config}", f"--kubeconfig={self.control_plane.kubeconfig}",
        ]  # fmt: skip
        self.process = ManagedProcess("kueue", argv, self._dir / "kueue.log")

    def _wait_ready(self) -> None:
        """/readyz answers 200 once the webhook server listens with its certificate."""
        url = f"http://127.0.0.1:{self.health_port}/readyz"

        def ready() -> bool:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    return bool(response.status == 200)
            except (urllib.error.URLError, OSError):
                return False

        self._wait(ready, f"Kueue's {url}")

    def _register_webhooks(self, source: Path, ca_bundle: bytes) -> None:
        manifests = source / "config" / "components" / "webhook" / "manifests.yaml"
        admission = client.AdmissionregistrationV1Api(self.api)
        names = {
            "MutatingWebhookConfiguration": MUTATING_WEBHOOKS,
            "ValidatingWebhookConfiguration": VALIDATING_WEBHOOKS,
        }
        for document in load_documents(manifests):
            body = webhook_configuration(
                document, names[document["kind"]], self._client_config, ca_bundle
            )
            if document["kind"] == "MutatingWebhookConfiguration":
                admission.create_mutating_webhook_configuration(_model(body))
            else:
                admission.create_validating_webhook_configuration(_model(body))

    def _wait_webhook_answers(self) -> None:
        """A dry-run Job with a queue name comes back suspended: the API server called Kueue."""
        batch = client.BatchV1Api(self.api)
        probe = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "kueue-webhook-probe", "labels": {QUEUE_LABEL: "probe"}},
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "probe", "image": "probe"}],
                    }
                }
            },
        }

        def suspended() -> bool:
            created = batch.create_namespaced_job(_PROBE_NAMESPACE, _model(probe), dry_run="All")
            return bool(created.spec and created.spec.suspend)

        self._wait(suspended, "Kueue's Job webhook to suspend a dry-run Job")

    def _wait(self, check: Any, what: str) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last = "no answer"
        while time.monotonic() < deadline:
            self.check_running()
            try:
                if check():
                    return
            except Exception as error:  # any failure means "not yet"
                last = str(error)[:300]
            time.sleep(0.2)
        raise ControlPlaneError(
            f"no {what} within {self.startup_timeout:.0f}s (last: {last}); last lines of "
            f"{self.process.log_path if self.process else 'the log'}:\n{self.log_tail()}",
            fix="see the log above",
        )

    # -- use -------------------------------------------------------------------------------

    def check_running(self) -> None:
        """Raise, with the log tail, if Kueue has exited."""
        if self.process is not None and self.process.exit_code() is not None:
            raise ControlPlaneError(
                f"kueue exited with code {self.process.exit_code()}; last lines of "
                f"{self.process.log_path}:\n{self.log_tail()}",
                fix="see the log above",
            )

    def log_tail(self, lines: int = 40) -> str:
        return self.process.log_tail(lines) if self.process else "(not started)"

    # -- stop ------------------------------------------------------------------------------

    def stop(self) -> None:
        """The webhooks first (nothing may call a dead one), then the process."""
        try:
            self._unregister()
        finally:
            if self.process is not None:
                self.process.stop(timeout=20)

    def _unregister(self) -> None:
        admission = client.AdmissionregistrationV1Api(self.api)
        with _absent_is_fine():
            admission.delete_mutating_webhook_configuration(MUTATING_WEBHOOKS)
        with _absent_is_fine():
            admission.delete_validating_webhook_configuration(VALIDATING_WEBHOOKS)
        # Kueue's CRDs stay (their objects may outlive it); reads of the other served version
        # must not call a dead conversion webhook either.
        extensions = client.ApiextensionsV1Api(self.api)
        for name in self.converted_crds:
            with _absent_is_fine():
                extensions.patch_custom_resource_definition(
                    name, {"spec": {"conversion": {"strategy": "None", "webhook": None}}}
                )
        self.converted_crds = []


def webhook_configuration(
    document: Mapping[str, Any],
    name: str,
    client_config: Any,
    ca_bundle: bytes,
) -> dict[str, Any]:
    """One of Kueue's webhook configurations, cut to ``WEBHOOK_GROUPS`` and pointed at
    ``client_config(path, ca_bundle)`` instead of its Service."""
    body = copy.deepcopy(dict(document))
    body["metadata"] = {"name": name}
    kept = []
    for webhook in body["webhooks"]:
        groups = {group for rule in webhook["rules"] for group in rule["apiGroups"]}
        if groups <= WEBHOOK_GROUPS:
            path = webhook["clientConfig"]["service"]["path"]
            webhook["clientConfig"] = client_config(path, ca_bundle)
            kept.append(webhook)
    body["webhooks"] = kept
    return body


def _model(body: object) -> Any:
    """The kubernetes client takes (and gives) plain dicts where its types name models."""
    return body


@contextlib.contextmanager
def _absent_is_fine() -> Iterator[None]:
    try:
        yield
    except ApiException as error:
        if error.status != 404:
            raise


def _ensure_namespace(api: client.ApiClient, name: str) -> None:
    try:
        client.CoreV1Api(api).create_namespace(_model({"metadata": {"name": name}}))
    except ApiException as error:
        if error.status != 409:  # already there: a second start on the same control plane
            raise


# -- Kueue's objects -------------------------------------------------------------------------


def _create_cluster_object(api: client.ApiClient, plural: str, body: dict[str, Any]) -> Any:
    body = {"apiVersion": f"{GROUP}/{VERSION}", **body}
    return client.CustomObjectsApi(api).create_cluster_custom_object(GROUP, VERSION, plural, body)


def create_resource_flavor(api: client.ApiClient, name: str = "default") -> Any:
    """A ResourceFlavor with no node labels: any node."""
    return _create_cluster_object(
        api, "resourceflavors", {"kind": "ResourceFlavor", "metadata": {"name": name}}
    )


def create_cluster_queue(
    api: client.ApiClient, name: str, *, cpu: str = "100m", flavor: str = "default"
) -> Any:
    """A ClusterQueue for every namespace whose only quota is ``cpu`` of ``flavor`` (100m: room
    for exactly one Job asking cpu 100m), preempting lower priorities within itself."""
    return _create_cluster_object(
        api,
        "clusterqueues",
        {
            "kind": "ClusterQueue",
            "metadata": {"name": name},
            "spec": {
                "namespaceSelector": {},
                "preemption": {"withinClusterQueue": "LowerPriority"},
                "resourceGroups": [
                    {
                        "coveredResources": ["cpu"],
                        "flavors": [
                            {"name": flavor, "resources": [{"name": "cpu", "nominalQuota": cpu}]}
                        ],
                    }
                ],
            },
        },
    )


def create_local_queue(api: client.ApiClient, namespace: str, name: str, cluster_queue: str) -> Any:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "LocalQueue",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"clusterQueue": cluster_queue},
    }
    return client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, "localqueues", body
    )


def create_workload_priority_class(api: client.ApiClient, name: str, value: int) -> Any:
    return _create_cluster_object(
        api,
        "workloadpriorityclasses",
        {"kind": "WorkloadPriorityClass", "metadata": {"name": name}, "value": value},
    )


def create_priority_classes(api: client.ApiClient) -> None:
    """WorkloadPriorityClasses ``low`` (100) and ``high`` (1000)."""
    create_workload_priority_class(api, "low", 100)
    create_workload_priority_class(api, "high", 1000)


def workloads(api: client.ApiClient, namespace: str) -> list[dict[str, Any]]:
    listed = client.CustomObjectsApi(api).list_namespaced_custom_object(
        GROUP, VERSION, namespace, "workloads"
    )
    items: list[dict[str, Any]] = _model(listed)["items"]
    return items


def workload_of(api: client.ApiClient, namespace: str, job_uid: str) -> dict[str, Any] | None:
    """The Workload Kueue made for the Job with ``job_uid`` (it is owned by the Job)."""
    for workload in workloads(api, namespace):
        owners = workload["metadata"].get("ownerReferences", [])
        if any(owner.get("uid") == job_uid for owner in owners):
            return workload
    return None

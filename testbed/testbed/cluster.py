"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager.

There is no kubelet, scheduler or job controller: nothing runs Pods, so Job status is driven by
a stand-in (``testbed.harness.kubelet``). The controller manager runs only the
controllers named in ``controllers`` (by default garbage collection and TTL-after-finished), which
gives real foreground deletion and real TTL cleanup.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import shutil
import ssl
import tempfile
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import yaml

from . import binaries as binaries_module
from .certs import CertificateAuthority, KeyPair, service_account_keys
from .errors import ControlPlaneError
from .node.network import NodeNetwork
from .processes import ManagedProcess, free_port, require_free_port

DEFAULT_CONTROLLERS = ("garbage-collector-controller", "ttl-after-finished-controller")
# With a real node: what Pods, Services and Jobs need (the real job controller among them).
NODE_CONTROLLERS = (
    *DEFAULT_CONTROLLERS,
    "job-controller",
    "serviceaccount-controller",
    "root-ca-certificate-publisher-controller",
    "node-lifecycle-controller",  # else the node's not-ready taint is never lifted
    "deployment-controller",
    "replicaset-controller",
    "endpointslice-controller",
    "namespace-controller",
    "pod-garbage-collector-controller",
)
ADMIN_USER = "reactivejob-admin"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
_RUN_DIR_PATTERN = re.compile(r"^run-(\d+)-")
_running: weakref.WeakSet[ControlPlane] = weakref.WeakSet()


def runs_root() -> Path:
    return Path(tempfile.gettempdir()) / "reactivejob-controlplane"


def sweep_stale_runs(root: Path | None = None) -> list[Path]:
    """Remove run folders whose owner process is gone (a SIGKILLed run cannot clean up itself)."""
    root = root or runs_root()
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for entry in root.iterdir():
        match = _RUN_DIR_PATTERN.match(entry.name)
        if match and not _pid_alive(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ControlPlane:
    """Start with ``with ControlPlane() as cp:``; ``cp.kubeconfig`` is an admin kubeconfig."""

    def __init__(
        self,
        *,
        api_port: int | None = None,
        controllers: Sequence[str] = DEFAULT_CONTROLLERS,
        binaries: binaries_module.Binaries | None = None,
        startup_timeout: float = 60.0,
        out: TextIO | None = None,
        audit_policy: Mapping[str, Any] | None = None,
        network: NodeNetwork | None = None,
    ) -> None:
        """``audit_policy`` (an ``audit.k8s.io/v1`` Policy) turns on the API server's audit log,
        read back with ``audit_events()``: what the server itself saw each identity do.

        ``network``: serve a real node (``testbed.node``): the API server listens on the node
        address (already up) and serves the ``kubernetes`` Service, whose address Pods use."""
        self._requested_api_port = api_port
        self.network = network
        if network is not None and controllers is DEFAULT_CONTROLLERS:
            controllers = NODE_CONTROLLERS
        self.controllers = tuple(controllers)
        self._binaries = binaries
        self.startup_timeout = startup_timeout
        self._out = out
        self.audit_policy = dict(audit_policy) if audit_policy is not None else None
        self.processes: list[ManagedProcess] = []
        self._launched: dict[str, int] = {}  # starts per component, for log file names
        self.workdir: Path | None = None
        self.api_port = 0
        self.startup_seconds = 0.0

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> ControlPlane:
        if self._requested_api_port is not None:
            require_free_port(self._requested_api_port, "kube-apiserver")
        binaries = self._binaries = self._binaries or binaries_module.resolve(out=self._out)
        sweep_stale_runs()
        runs_root().mkdir(parents=True, exist_ok=True)
        self.workdir = Path(tempfile.mkdtemp(prefix=f"run-{os.getpid()}-", dir=runs_root()))
        _running.add(self)
        started = time.monotonic()
        try:
            self._write_pki()
            self._start_etcd(binaries)
            self._start_apiserver(binaries)
            self._write_kubeconfig()
            if self.controllers:
                self._start_controller_manager(binaries)
        except BaseException:
            self.stop(keep_logs=True)
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def stop(self, *, keep_logs: bool = False) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
        _running.discard(self)
        if self.workdir is not None and not keep_logs:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    # -- what users of a running control plane need ---------------------------------------

    def stop_apiserver(self) -> None:
        """Take the API server down (etcd and the data stay), as a control-plane upgrade does."""
        for process in [p for p in self.processes if p.name == "kube-apiserver"]:
            process.stop()
            self.processes.remove(process)

    def start_apiserver(self) -> None:
        """Bring the API server back on the same port, with the same certificates and data."""
        assert self._binaries is not None, "start() the control plane first"
        self._requested_api_port = self.api_port
        self._start_apiserver(self._binaries)

    def compact_etcd(self) -> int:
        """Compact etcd's history up to now (what the API server does every 5 minutes), so a
        watch that resumes from an older resourceVersion must get 410 Expired. Returns the
        revision compacted to."""
        revision = int(self._etcd("range", {"key": "AA=="})["header"]["revision"])
        self._etcd("compaction", {"revision": revision, "physical": True})
        return revision

    def _etcd(self, call: str, body: dict[str, object]) -> dict[str, Any]:
        request = urllib.request.Request(  # etcd's JSON gateway for its v3 gRPC API
            f"{self.etcd_url}/v3/kv/{call}", data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            parsed: dict[str, Any] = json.load(answer)
            return parsed

    @property
    def host(self) -> str:
        """Where the API server listens: loopback, or the node address when it serves one."""
        return self.network.node_ip if self.network else "127.0.0.1"

    @property
    def server(self) -> str:
        return f"https://{self.host}:{self.api_port}"

    @property
    def kubeconfig(self) -> Path:
        return self._dir / "kubeconfig"

    @property
    def ca_cert(self) -> Path:
        return self._ca.pair.cert

    def admin_ssl_context(self) -> ssl.SSLContext:
        """TLS to the API server as the admin (system:masters), for plain HTTPS clients."""
        context = ssl.create_default_context(cafile=str(self._ca.pair.cert))
        context.load_cert_chain(str(self._admin.cert), str(self._admin.key))
        return context

    def logs(self, lines: int = 40) -> dict[str, str]:
        return {process.name: process.log_tail(lines) for process in self.processes}

    def kubeconfig_for_token(self, token: str, name: str) -> Path:
        """A kubeconfig that authenticates with a bearer token (e.g. a ServiceAccount's)."""
        path = self._dir / f"kubeconfig-{name}"
        path.write_text(yaml.safe_dump(self._kubeconfig_dict({"token": token})))
        path.chmod(0o600)
        return path

    @property
    def audit_log(self) -> Path:
        return self._dir / "audit.log"

    def audit_events(self, user: str | None = None) -> list[dict[str, Any]]:
        """The audit events written so far (oldest first), optionally only ``user``'s."""
        if self.audit_policy is None:
            raise ControlPlaneError(
                "auditing is off on this control plane", fix="pass audit_policy= to ControlPlane"
            )
        try:
            text = self.audit_log.read_text(errors="replace")
        except FileNotFoundError:  # nothing matched the policy yet
            return []
        events: list[dict[str, Any]] = []
        for line in text.splitlines(keepends=True):
            # The server may be mid-write; and a substring test skips decoding other users'.
            if not line.endswith("\n") or (user is not None and user not in line):
                continue
            event = json.loads(line)
            if user is None or event.get("user", {}).get("username") == user:
                events.append(event)
        return events

    def check_running(self) -> None:
        """Raise, with the log, if a control-plane process has exited since start."""
        for process in self.processes:
            code = process.exit_code()
            if code is not None:
                raise ControlPlaneError(
                    f"{process.name} exited with code {code}; last log lines:\n"
                    f"{process.log_tail()}",
                    fix="see the log above",
                )

    # -- internals -------------------------------------------------------------------------

    @property
    def _dir(self) -> Path:
        if self.workdir is None:
            raise ControlPlaneError("the control plane is not running", fix="call start() first")
        return self.workdir

    def _write_pki(self) -> None:
        pki = self._dir / "pki"
        pki.mkdir()
        self._ca = CertificateAuthority(pki)
        self._serving = self._ca.issue(
            "apiserver",
            "kube-apiserver",
            hosts=(
                "127.0.0.1", "localhost", "kubernetes", "kubernetes.default.svc",
                *((self.network.node_ip, self.network.service_ip) if self.network else ()),
            ),
        )  # fmt: skip
        self._admin = self._ca.issue(
            "admin", ADMIN_USER, organizations=("system:masters",), client=True
        )
        self._service_account = service_account_keys(pki)

    def _launch(self, name: str, argv: Sequence[str]) -> ManagedProcess:
        self._launched[name] = self._launched.get(name, 0) + 1
        suffix = f"-{self._launched[name]}" if self._launched[name] > 1 else ""  # restarts
        process = ManagedProcess(name, argv, self._dir / f"{name}{suffix}.log")
        self.processes.append(process)
        return process

    def _start_etcd(self, binaries: binaries_module.Binaries) -> None:
        client_port, peer_port = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        process = self._launch(
            "etcd",
            [
                str(binaries.etcd),
                "--name=default",
                f"--data-dir={self._dir / 'etcd'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=default={peer_url}",
                # A throwaway store: durability costs seconds per test and buys nothing.
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )
        self._wait_ready(process, f"{self.etcd_url}/health", tls=False)

    def _start_apiserver(self, binaries: binaries_module.Binaries) -> None:
        self.api_port = self._requested_api_port or free_port()
        pki = self._serving
        process = self._launch(
            "kube-apiserver",
            [
                str(binaries.kube_apiserver),
                f"--etcd-servers={self.etcd_url}",
                f"--bind-address={self.host}",
                f"--advertise-address={self.host}",
                f"--secure-port={self.api_port}",
                f"--tls-cert-file={pki.cert}",
                f"--tls-private-key-file={pki.key}",
                f"--client-ca-file={self._ca.pair.cert}",
                "--authorization-mode=RBAC",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={self._service_account.cert}",
                f"--service-account-signing-key-file={self._service_account.key}",
                f"--service-cluster-ip-range={self._service_cidr}",
                "--allow-privileged=true",
                *self._endpoint_flags(),
                f"--cert-dir={self._dir / 'apiserver-certs'}",
                *self._audit_flags(),
                "--v=1",
            ],
        )
        self._wait_ready(process, f"{self.server}/readyz", tls=True)

    @property
    def _service_cidr(self) -> str:
        return self.network.service_cidr if self.network else "10.0.0.0/24"

    def _endpoint_flags(self) -> list[str]:
        # With a node, Pods reach the API server through the kubernetes Service, whose
        # endpoint the reconciler keeps. Without, on loopback, it logs an error every 10 s.
        if self.network is None:
            return ["--endpoint-reconciler-type=none"]
        # Pods' tokens are not silently extended to a year: as in a strict cluster, only the
        # kubelet's rotation keeps a long-running Pod authenticated.
        # The node's name resolves nowhere: reach its kubelet (logs, exec) by its address.
        return [
            "--service-account-extend-token-expiration=false",
            "--kubelet-preferred-address-types=InternalIP",
        ]

    def _audit_flags(self) -> list[str]:
        if self.audit_policy is None:
            return []
        policy = self._dir / "audit-policy.yaml"
        policy.write_text(yaml.safe_dump(self.audit_policy))
        return [
            f"--audit-policy-file={policy}",
            f"--audit-log-path={self.audit_log}",
            "--audit-log-format=json",
            # Each event is written in the request's own goroutine, before the request ends, so
            # a test that just saw a request finish can find it in the log (batch mode lags).
            "--audit-log-mode=blocking",
        ]

    def _start_controller_manager(self, binaries: binaries_module.Binaries) -> None:
        process = self._launch(
            "kube-controller-manager",
            [
                str(binaries.kube_controller_manager),
                f"--kubeconfig={self.kubeconfig}",
                f"--controllers={','.join(self.controllers)}",
                "--leader-elect=false",
                "--secure-port=0",
                # The root CA for every namespace's kube-root-ca.crt (Pods' projected CA).
                f"--root-ca-file={self._ca.pair.cert}",
                "--v=1",
            ],
        )
        # It has no health endpoint without a serving port; give it a moment to fail fast
        # (bad flags, unknown controller names) so the error surfaces here, not in a test.
        time.sleep(0.5)
        if process.exit_code() is not None:
            raise self._exited(process)

    def _exited(self, process: ManagedProcess) -> ControlPlaneError:
        return ControlPlaneError(
            f"{process.name} exited with code {process.exit_code()} during start-up; "
            f"last log lines ({process.log_path}):\n{process.log_tail()}",
            fix="see the log above; a port clash or a bad binary is the usual cause",
        )

    def _wait_ready(self, process: ManagedProcess, url: str, *, tls: bool) -> None:
        context: ssl.SSLContext | None = None
        if tls:
            context = self.admin_ssl_context()
        deadline = time.monotonic() + self.startup_timeout
        last_error = "no answer"
        while time.monotonic() < deadline:
            if process.exit_code() is not None:
                raise self._exited(process)
            try:
                with urllib.request.urlopen(url, timeout=2, context=context) as response:
                    if response.status == 200:
                        return
            except urllib.error.HTTPError as error:
                last_error = f"HTTP {error.code}"
            except (urllib.error.URLError, OSError) as error:
                last_error = str(error)
            time.sleep(0.1)
        raise ControlPlaneError(
            f"{process.name} was not ready at {url} within {self.startup_timeout:.0f}s "
            f"(last answer: {last_error}); last log lines:\n{process.log_tail()}",
            fix="see the log above; on a loaded machine raise startup_timeout",
        )

    def _kubeconfig_dict(self, user: dict[str, str]) -> dict[str, object]:
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "local",
                    "cluster": {
                        "server": self.server,
                        "certificate-authority": str(self._ca.pair.cert),
                    },
                }
            ],
            "users": [{"name": "user", "user": user}],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": "user"}}],
            "current-context": "local",
        }

    def _write_kubeconfig(self) -> None:
        admin: KeyPair = self._admin
        self.kubeconfig.write_text(
            yaml.safe_dump(
                self._kubeconfig_dict(
                    {"client-certificate": str(admin.cert), "client-key": str(admin.key)}
                )
            )
        )
        self.kubeconfig.chmod(0o600)


@atexit.register
def _stop_all() -> None:
    for control_plane in list(_running):
        with contextlib.suppress(Exception):
            control_plane.stop()

"""One real node beside the control plane: containerd and runc, kubelet, kube-scheduler and
kube-proxy, with a bridge pod network. Images come from OCI archives (no registry).

``RealCluster`` is what tests and the command line use: the host prepared, the control plane
serving the node, the node Ready; and on the way out every Pod deleted, every process
stopped and the host put back (``host.leftovers()`` says what, if anything, stayed).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import yaml
from kubernetes import client

from testbed import binaries
from testbed.clients import api_client
from testbed.cluster import ControlPlane
from testbed.errors import ControlPlaneError
from testbed.processes import ManagedProcess, free_port
from testbed.versions import CNI_PLUGINS, KUBE_PROXY, KUBE_SCHEDULER, KUBELET, NODE_TOOLS

from . import host, images
from .network import NodeNetwork

NODE_NAME = "rjnode"
NAMESPACE = "k8s.io"  # containerd's namespace for the CRI
RECORD = Path("/run/reactivejob-node.json")  # the one node on this machine, while it runs


class RealCluster:
    """``with RealCluster() as cluster:`` gives ``cluster.control_plane`` with a Ready node."""

    def __init__(
        self,
        network: NodeNetwork | None = None,
        out: TextIO | None = None,
        startup_timeout: float = 120.0,
    ) -> None:
        self.network = network or NodeNetwork()
        self.out = out
        self.startup_timeout = startup_timeout
        host.NODE_ROOT.mkdir(parents=True, exist_ok=True)
        self.workdir = Path(tempfile.mkdtemp(prefix="run-", dir=host.NODE_ROOT))
        self.control_plane = ControlPlane(network=self.network, out=out)
        self.processes: list[ManagedProcess] = []
        self.state: host.HostState | None = None
        self.timings: dict[str, float] = {}

    def __enter__(self) -> RealCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- start -----------------------------------------------------------------------------

    def start(self) -> RealCluster:
        started = time.monotonic()
        host.ensure_packages()
        tools = dict(
            zip(
                [t.binary for t in NODE_TOOLS],
                binaries.ensure_all_built(NODE_TOOLS, out=self.out),
                strict=True,
            )
        )
        pause = images.pause_image(self.workdir / "images", self.workdir / "pause.tar")
        self.timings["binaries"] = time.monotonic() - started
        # A node killed before its tear-down; this run's folder (the pause image) stays.
        restore_left_behind(self.network, keep=self.workdir)
        try:
            self.state = host.HostState.capture(RECORD, self._socket)
            self.network.up()
            self.control_plane.start()
            self._start_containerd(tools)
            self.load_image(pause)
            self._start_node(tools)
            self._wait_node_ready()
        except BaseException:
            self.stop(keep_logs=True)
            raise
        self.timings["up"] = time.monotonic() - started
        return self

    @property
    def _socket(self) -> Path:
        return self.workdir / "containerd" / "containerd.sock"

    def _start_containerd(self, tools: dict[str, Path]) -> None:
        base = self.workdir / "containerd"
        cni = self.workdir / "cni"
        (cni / "bin").mkdir(parents=True)
        (cni / "net.d").mkdir(parents=True)
        for tool in CNI_PLUGINS:
            shutil.copy(tools[tool.binary], cni / "bin" / tool.binary)
        (cni / "net.d" / "10-reactivejob.conflist").write_text(
            json.dumps(_cni_config(self.network, cni), indent=2)
        )
        config = base / "config.toml"
        base.mkdir(exist_ok=True)
        config.write_text(_containerd_config(base, cni, images.PAUSE_IMAGE))
        self._launch("containerd", ["containerd", f"--config={config}"])
        self._wait(self._socket.exists, "containerd's socket")

    def _start_node(self, tools: dict[str, Path]) -> None:
        kubeconfig = str(self.control_plane.kubeconfig)
        kubelet_dir = self.workdir / "kubelet"
        kubelet_dir.mkdir()
        config = kubelet_dir / "config.yaml"
        config.write_text(yaml.safe_dump(_kubelet_config(self._socket, self.control_plane)))
        self._launch(
            "kubelet",
            [
                str(tools[KUBELET.binary]),
                f"--config={config}",
                f"--kubeconfig={kubeconfig}",
                f"--root-dir={kubelet_dir / 'root'}",
                f"--cert-dir={kubelet_dir / 'pki'}",
                f"--node-ip={self.network.node_ip}",
                f"--hostname-override={NODE_NAME}",
                "--v=1",
            ],
        )
        proxy = self.workdir / "kube-proxy.yaml"
        proxy.write_text(yaml.safe_dump(_proxy_config(self.network, kubeconfig)))
        self._launch("kube-proxy", [str(tools[KUBE_PROXY.binary]), f"--config={proxy}", "--v=1"])
        self._launch(
            "kube-scheduler",
            [
                str(tools[KUBE_SCHEDULER.binary]),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--leader-elect=false",
                "--secure-port=0",
                "--v=1",
            ],
        )

    def _wait_node_ready(self) -> None:
        core = client.CoreV1Api(self.kube)

        def ready() -> bool:
            try:
                node = core.read_node(NODE_NAME)
            except client.ApiException:
                return False
            assert node.status is not None and node.spec is not None
            conditions = {c.type: c.status for c in (node.status.conditions or [])}
            tainted = any(t.key.startswith("node.kubernetes.io/") for t in node.spec.taints or [])
            return conditions.get("Ready") == "True" and not tainted

        self._wait(ready, f"node {NODE_NAME} Ready and untainted")

    # -- use -------------------------------------------------------------------------------

    @property
    def kube(self) -> client.ApiClient:
        if not hasattr(self, "_kube"):
            self._kube = api_client(self.control_plane.kubeconfig)
        return self._kube

    def load_image(self, archive: Path) -> None:
        """``kind load``: an OCI archive into the node's containerd."""
        load_image(self._socket, archive)

    def _ctr(self, *args: str) -> str:
        return ctr(self._socket, *args)

    # -- stop ------------------------------------------------------------------------------

    def stop(self, *, keep_logs: bool = False) -> None:
        """Every Pod deleted while the kubelet still runs, then every process, then the host."""
        with contextlib.suppress(Exception):
            self._delete_all_pods()
        for process in reversed(self.processes):
            process.stop(timeout=20)
        self.processes.clear()
        self.control_plane.stop(keep_logs=keep_logs)
        if self.state is not None:
            _put_host_back(self.network, self.state, keep=self.workdir if keep_logs else None)
            self.state = None

    def _delete_all_pods(self) -> None:
        if not any(p.name == "kubelet" for p in self.processes):
            return
        core, apps, batch = (
            client.CoreV1Api(self.kube),
            client.AppsV1Api(self.kube),
            client.BatchV1Api(self.kube),
        )
        # First what makes Pods anew (else a Deployment replaces each Pod deleted here).
        for namespace in core.list_namespace().items:
            name = namespace.metadata.name if namespace.metadata else None
            assert name is not None
            for remove in (apps.delete_collection_namespaced_deployment,
                           apps.delete_collection_namespaced_replica_set,
                           apps.delete_collection_namespaced_stateful_set,
                           apps.delete_collection_namespaced_daemon_set,
                           batch.delete_collection_namespaced_job):  # fmt: skip
                with contextlib.suppress(client.ApiException):
                    remove(name, propagation_policy="Background")
        for pod in core.list_pod_for_all_namespaces().items:
            meta = pod.metadata
            assert meta is not None and meta.name is not None and meta.namespace is not None
            with contextlib.suppress(client.ApiException):
                core.delete_namespaced_pod(meta.name, meta.namespace, grace_period_seconds=0)
        self._wait(lambda: not core.list_pod_for_all_namespaces().items, "every Pod deleted")
        # The kubelet stops sandboxes after the objects are gone: wait for containerd's view.
        self._wait(lambda: not self._ctr("tasks", "ls", "-q").split(), "every container stopped")

    # -- helpers ---------------------------------------------------------------------------

    def _launch(self, name: str, argv: Sequence[str]) -> ManagedProcess:
        process = ManagedProcess(name, argv, self.workdir / f"{name}.log")
        self.processes.append(process)
        return process

    def _wait(self, check: Any, what: str) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.exit_code() is not None:
                    raise ControlPlaneError(
                        f"{process.name} exited with {process.exit_code()} while waiting for "
                        f"{what}:\n{process.log_tail(30)}",
                        fix=f"see {process.log_path}",
                    )
            with contextlib.suppress(Exception):
                if check():
                    return
            time.sleep(0.5)
        tails = "\n".join(f"--- {p.name}\n{p.log_tail(15)}" for p in self.processes)
        raise ControlPlaneError(f"no {what} within {self.startup_timeout:.0f}s:\n{tails}",
                                fix=f"see the logs in {self.workdir}")  # fmt: skip


def restore_left_behind(network: NodeNetwork | None = None, keep: Path | None = None) -> bool:
    """Put the host back after a node whose process was killed; True if there was one.
    ``keep``: the run folder of a node about to start, which must survive the sweep."""
    left = host.HostState.left_behind(RECORD)
    if left is None:
        return False
    _put_host_back(network or NodeNetwork(), left, keep=keep)
    return True


def _put_host_back(network: NodeNetwork, state: host.HostState, keep: Path | None) -> None:
    """kube-proxy's rules, the network, then everything the state recorded or the node made."""
    with contextlib.suppress(ControlPlaneError):
        host.kube_proxy_cleanup(binaries.ensure_built(KUBE_PROXY, build=False))
    network.down()
    state.restore(keep=keep)


def load_image(socket: Path, archive: Path) -> None:
    """An OCI archive into the containerd at ``socket``, unpacked for the CRI's snapshotter."""
    ctr(socket, "images", "import", str(archive))


def running_node_socket() -> Path:
    """The containerd socket of the node running on this machine (for `load-image`)."""
    state = host.HostState.left_behind(RECORD)
    if state is None or not state.containerd or not Path(state.containerd).exists():
        raise ControlPlaneError(
            "no node runs on this machine", fix="start one: reactivejob-controlplane run --node"
        )
    return Path(state.containerd)


def ctr(socket: Path, *args: str) -> str:
    argv = ["ctr", f"--address={socket}", "-n", NAMESPACE, *args]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ControlPlaneError(
            f"`{' '.join(argv)}` failed: {done.stderr.strip()[-800:]}",
            fix=f"see containerd's log beside {socket.parent}",
        )
    return done.stdout


def _cni_config(network: NodeNetwork, cni: Path) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": "reactivejob",
        "plugins": [
            {
                "type": "bridge",
                "bridge": network.bridge,
                "isGateway": True,
                "ipMasq": False,  # nothing leaves the host, so nothing needs a host address
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": network.pod_cidr}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(cni / "ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def _containerd_config(base: Path, cni: Path, pause: str) -> str:
    # restrict_oom_score_adj: the sandbox lacks CAP_SYS_RESOURCE; without it every Pod
    # sandbox fails in runc ("can't get final child's PID from pipe: EOF").
    return f"""version = 2
root = "{base / "root"}"
state = "{base / "state"}"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs"]

[grpc]
  address = "{base / "containerd.sock"}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni / "bin"}"
    conf_dir = "{cni / "net.d"}"
"""


def _kubelet_config(socket: Path, control_plane: ControlPlane) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "containerRuntimeEndpoint": f"unix://{socket}",
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,  # this machine's cgroups are v1
        "failSwapOn": False,
        "oomScoreAdj": 0,  # lowering it needs CAP_SYS_RESOURCE, which this sandbox lacks
        "address": control_plane.host,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 0,
        # The API server reads logs and execs through it; nothing else can reach it.
        "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
        "authorization": {"mode": "AlwaysAllow"},
        "clusterDomain": "cluster.local",
        "resolvConf": "",
        "registerNode": True,
        # A shared test machine's disk is not the node's: never evict for it.
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "serializeImagePulls": False,
        "syncFrequency": "5s",
        "fileCheckFrequency": "5s",
    }


def _proxy_config(network: NodeNetwork, kubeconfig: str) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": kubeconfig},
        "hostnameOverride": NODE_NAME,
        "mode": "iptables",
        "clusterCIDR": network.pod_cidr,
        "bindAddress": network.node_ip,
        "healthzBindAddress": f"127.0.0.1:{free_port()}",
        "metricsBindAddress": f"127.0.0.1:{free_port()}",
        # Lowering it needs CAP_SYS_RESOURCE, which this sandbox lacks.
        "oomScoreAdj": 0,
        # Zero: leave the host's conntrack sysctls alone.
        "conntrack": {"maxPerCore": 0, "min": 0},
    }

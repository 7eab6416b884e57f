"""The pinned versions of the control-plane binaries.

The go.mod files under ``gomod/`` are the single place versions are pinned: they are what
``go build`` uses, and this module reads them so the cache key, the progress line and the
schema's Kubernetes OpenAPI version can never disagree with what is actually built.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

GOMOD_DIR = Path(__file__).parent / "gomod"


@dataclass(frozen=True)
class GoTool:
    """A binary built from a Go module pinned in ``gomod/<module_dir>/go.mod``."""

    binary: str
    package: str
    module_dir: str
    pinned_module: str

    @property
    def module_path(self) -> Path:
        return GOMOD_DIR / self.module_dir

    @property
    def version(self) -> str:
        return required_version(self.module_path / "go.mod", self.pinned_module)

    @property
    def cache_key(self) -> str:
        """What the cached binary is filed under: the pinned version, and for a tool whose
        main package is ours (package "."), a digest of its sources, so an edit rebuilds it."""
        if self.package != ".":
            return self.version
        digest = hashlib.sha256()
        for path in sorted(self.module_path.glob("*")):
            if path.suffix == ".go" or path.name in ("go.mod", "go.sum"):
                digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        return f"{self.version}-{digest.hexdigest()[:12]}"


def required_version(gomod: Path, module: str) -> str:
    text = gomod.read_text()
    match = re.search(
        rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)\s*(?://.*)?$", text, re.MULTILINE
    )
    if match is None:
        raise LookupError(f"{gomod} does not require {module}")
    return match.group(1)


KUBE_APISERVER = GoTool(
    "kube-apiserver", "k8s.io/kubernetes/cmd/kube-apiserver", "kube", "k8s.io/kubernetes"
)
KUBE_CONTROLLER_MANAGER = GoTool(
    "kube-controller-manager",
    "k8s.io/kubernetes/cmd/kube-controller-manager",
    "kube",
    "k8s.io/kubernetes",
)
# kubectl for the tests that drive it as users do (kubectl wait, the plugin): the same release.
KUBECTL = GoTool("kubectl", "k8s.io/kubernetes/cmd/kubectl", "kube", "k8s.io/kubernetes")
ETCD = GoTool("etcd", "go.etcd.io/etcd/server/v3", "etcd", "go.etcd.io/etcd/server/v3")
HELM = GoTool("helm", "helm.sh/helm/v4/cmd/helm", "helm", "helm.sh/helm/v4")
# Runs Argo CD health checks as Argo CD's VM does (gopher-lua at the version Argo CD pins).
ARGOCD_HEALTH = GoTool("argocd-health", ".", "argocd-health", "github.com/yuin/gopher-lua")

# The real node: its kubelet, scheduler and proxy from the control plane's own module, and the
# CNI plugins of its pod network.
KUBELET = GoTool("kubelet", "k8s.io/kubernetes/cmd/kubelet", "kube", "k8s.io/kubernetes")
KUBE_SCHEDULER = GoTool(
    "kube-scheduler", "k8s.io/kubernetes/cmd/kube-scheduler", "kube", "k8s.io/kubernetes"
)
KUBE_PROXY = GoTool("kube-proxy", "k8s.io/kubernetes/cmd/kube-proxy", "kube", "k8s.io/kubernetes")
_CNI = "github.com/containernetworking/plugins"
CNI_PLUGINS = tuple(
    GoTool(name, f"{_CNI}/plugins/{kind}/{name}", "cni", _CNI)
    for kind, name in (
        ("main", "bridge"), ("ipam", "host-local"), ("main", "loopback"), ("meta", "portmap")
    )
)  # fmt: skip
NODE_TOOLS = (KUBELET, KUBE_SCHEDULER, KUBE_PROXY, *CNI_PLUGINS)

# Kueue, run as a host process beside a real node (testbed.kueue); its CRDs and webhook
# manifests come from the same module's source.
KUEUE = GoTool("kueue", "sigs.k8s.io/kueue/cmd/kueue", "kueue", "sigs.k8s.io/kueue")

# What the tests drive besides the control plane; the demo needs none of them.
TEST_TOOLS = {tool.binary: tool for tool in (HELM, KUBECTL, ARGOCD_HEALTH, KUEUE)}


def kubernetes_version() -> str:
    """The Kubernetes release the control plane runs, e.g. ``v1.36.4``."""
    return KUBE_APISERVER.version

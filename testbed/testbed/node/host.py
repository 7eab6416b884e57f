"""What a node needs of the host, and putting the host back as it was.

A kubelet changes the machine beyond its own folders: sysctls, iptables chains, cgroups,
mounts and a few fixed paths. ``HostState`` records what it will touch before the node
starts; ``restore()`` puts it back and removes what the node made, even after a crash (the
next ``up`` finds a record left behind and restores from it first).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from testbed.errors import ControlPlaneError

from .network import quiet

# Debian packages the node runs on: containerd (1.6 in bookworm) with runc, and iptables for
# kube-proxy's rules and the egress fence.
PACKAGES = {"containerd": "containerd", "runc": "runc", "iptables": "iptables"}

# Sysctls the kubelet and the CNI bridge set; restored on tear-down.
SYSCTLS = (
    "vm.overcommit_memory",
    "kernel.panic",
    "kernel.panic_on_oops",
    "net.ipv4.ip_forward",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
)

# Fixed paths a kubelet or containerd shim uses whatever its flags say: one node per machine.
FIXED_PATHS = (
    "/var/lib/kubelet",
    "/var/log/pods",
    "/var/log/containers",
    "/var/lib/cni",
    "/run/containerd",
)
# Where every node's own files live (containerd's root and state, the kubelet's root, logs):
# one folder per run below it, so a tear-down after a kill finds them all.
NODE_ROOT = Path(tempfile.gettempdir()) / "reactivejob-node"
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_NAMES = ("kubepods", "k8s.io")  # the kubelet's QoS tree, containerd's namespace


def ensure_packages(packages: dict[str, str] = PACKAGES) -> list[str]:
    """Install the missing packages with apt (root only); returns what was installed."""
    missing = [package for command, package in packages.items() if shutil.which(command) is None]
    if not missing:
        return []
    if os.geteuid() != 0:
        raise ControlPlaneError(
            f"the node needs {', '.join(missing)}, which are not installed, and installing "
            "them needs root",
            fix=f"run as root, or `apt-get install {' '.join(missing)}` first",
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *missing]):
        done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            raise ControlPlaneError(
                f"`{' '.join(argv)}` failed: {done.stderr.strip()[-800:]}",
                fix="check that apt can reach its mirror",
            )
    return missing


@dataclass
class HostState:
    """What the node will change, as it was before; saved to ``record`` while a node runs."""

    record: Path
    sysctls: dict[str, str] = field(default_factory=dict)
    containerd: str = ""  # the running node's containerd socket, for `load-image`

    @classmethod
    def capture(cls, record: Path, containerd: Path) -> HostState:
        sysctls = {name: value for name in SYSCTLS if (value := _sysctl(name))}
        state = cls(record, sysctls, str(containerd))
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({"sysctls": state.sysctls, "containerd": state.containerd}))
        return state

    @classmethod
    def left_behind(cls, record: Path) -> HostState | None:
        """The state a node that was killed before its tear-down recorded, if any."""
        try:
            saved = json.loads(record.read_text())
        except (OSError, ValueError):
            return None
        return cls(record, dict(saved.get("sysctls", {})), str(saved.get("containerd", "")))

    def restore(self, *, keep: Path | None = None) -> None:
        """Undo the node: processes left running, mounts, cgroups, iptables chains, files,
        then the sysctls. ``keep``: a run folder whose logs stay (a failed start)."""
        _kill_node_processes()
        for mount in reversed(_mounts_under([NODE_ROOT, *map(Path, FIXED_PATHS)])):
            quiet("umount", "--lazy", str(mount))
        for path in [*map(Path, FIXED_PATHS), *(p for p in _runs() if p != keep)]:
            shutil.rmtree(path, ignore_errors=True)
        _remove_cgroups()
        _remove_kube_chains()
        for name, value in self.sysctls.items():
            _set_sysctl(name, value)
        self.record.unlink(missing_ok=True)


def _runs() -> list[Path]:
    return sorted(NODE_ROOT.iterdir()) if NODE_ROOT.is_dir() else []


def leftovers() -> list[str]:
    """What a node left on the host: mounts, cgroups, chains (empty after a clean tear-down)."""
    found = [f"mount {m}" for m in _mounts_under([NODE_ROOT, *map(Path, FIXED_PATHS)])]
    found += [f"cgroup {c}" for c in _our_cgroups()]
    found += [f"chain {c}" for c in _kube_chains()]
    found += [f"path {p}" for p in FIXED_PATHS if Path(p).exists() and p != "/run/containerd"]
    return found


def _sysctl(name: str) -> str | None:
    try:
        return (Path("/proc/sys") / name.replace(".", "/")).read_text().strip()
    except OSError:
        return None


def _set_sysctl(name: str, value: str) -> None:
    # A sysctl this kernel lacks was never changed either.
    with contextlib.suppress(OSError):
        (Path("/proc/sys") / name.replace(".", "/")).write_text(value)


def _mounts_under(roots: Sequence[Path]) -> list[Path]:
    """Mount points at or below any of ``roots``, in mount order."""
    found = []
    prefixes = [str(r).rstrip("/") for r in roots]
    for line in Path("/proc/self/mounts").read_text().splitlines():
        point = Path(line.split()[1].replace("\\040", " "))
        text = str(point)
        if any(text == p or text.startswith(p + "/") for p in prefixes):
            found.append(point)
    return found


def _kill_node_processes() -> None:
    """Containers and their shims outlive a killed kubelet and containerd (the shims are
    re-parented to init): kill what sits in the node's cgroups, then the shims."""
    for top in _our_cgroups():
        for directory, _, files in os.walk(top):
            if "cgroup.procs" in files:
                for pid in (Path(directory) / "cgroup.procs").read_text().split():
                    with contextlib.suppress(OSError):
                        os.kill(int(pid), signal.SIGKILL)
    quiet("pkill", "-KILL", "-f", "containerd-shim-runc-v2 -namespace k8s.io")


def _our_cgroups() -> list[Path]:
    found = []
    for hierarchy in CGROUP_ROOT.iterdir() if CGROUP_ROOT.is_dir() else []:
        for name in CGROUP_NAMES:
            if (hierarchy / name).is_dir():
                found.append(hierarchy / name)
    return found


def _remove_cgroups() -> None:
    # A cgroup is removed with rmdir, children first; it refuses while a process is in it.
    for top in _our_cgroups():
        for directory, _, _ in sorted(os.walk(top), key=lambda entry: -len(entry[0])):
            with contextlib.suppress(OSError):
                os.rmdir(directory)


def _kube_chains() -> list[str]:
    chains = []
    for tool in ("iptables-save", "ip6tables-save"):
        if shutil.which(tool) is None:
            continue
        dump = subprocess.run([tool], capture_output=True, text=True, check=False).stdout
        chains += [f"{tool}:{line[1:].split()[0]}" for line in dump.splitlines()
                   if line.startswith(":KUBE-")]  # fmt: skip
    return chains


def _remove_kube_chains() -> None:
    """Every KUBE-* chain and every rule that jumps to one (kube-proxy's and the kubelet's)."""
    for save, restore in (("iptables-save", "iptables-restore"),
                          ("ip6tables-save", "ip6tables-restore")):  # fmt: skip
        if shutil.which(save) is None:
            continue
        dump = subprocess.run([save], capture_output=True, text=True, check=False).stdout
        kept = [line for line in dump.splitlines() if "KUBE-" not in line]
        if len(kept) != len(dump.splitlines()):
            subprocess.run([restore], input="\n".join(kept) + "\n", text=True, check=False)


def kube_proxy_cleanup(kube_proxy: Path) -> None:
    """kube-proxy's own tear-down of its rules (iptables, and nftables where it made any)."""
    quiet(str(kube_proxy), "--cleanup")

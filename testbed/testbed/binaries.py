"""Finding or building the control-plane binaries.

``KUBEBUILDER_ASSETS`` wins when set (the envtest convention users already have). Otherwise the
binaries are built once from the Go modules pinned in ``gomod/`` and cached per user, keyed by
version, so later runs start in seconds.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .errors import ControlPlaneError
from .versions import ETCD, HELM, KUBE_APISERVER, KUBE_CONTROLLER_MANAGER, KUBECTL, GoTool

ASSETS_ENV = "KUBEBUILDER_ASSETS"
CACHE_ENV = "REACTIVEJOB_CACHE_DIR"


@dataclass(frozen=True)
class Binaries:
    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path


def cache_root() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "reactivejob-operator"


def tool_dir(tool: GoTool) -> Path:
    return cache_root() / "bin" / f"{tool.module_dir}-{tool.cache_key}"


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def from_assets(assets: str, names: Sequence[str]) -> dict[str, Path]:
    """The named binaries from a KUBEBUILDER_ASSETS directory; the rest are left out."""
    directory = Path(assets)
    if not directory.is_dir():
        raise ControlPlaneError(
            f"{ASSETS_ENV}={assets} is not a directory.",
            fix=f"point {ASSETS_ENV} at a folder holding kube-apiserver and etcd "
            "(e.g. the output of `setup-envtest use -p path`), or unset it to build them "
            "from source",
        )
    found = {name: directory / name for name in names if _is_executable(directory / name)}
    missing = [name for name in ("kube-apiserver", "etcd") if name not in found]
    if missing:
        present = sorted(p.name for p in directory.iterdir())
        raise ControlPlaneError(
            f"{ASSETS_ENV}={assets} has no executable {' or '.join(missing)} "
            f"(it holds: {', '.join(present) or 'nothing'}).",
            fix=f"point {ASSETS_ENV} at a folder holding kube-apiserver and etcd, "
            "or unset it to build them from source",
        )
    return found


def resolve(*, build: bool = True, out: TextIO | None = None) -> Binaries:
    """Paths to etcd, kube-apiserver and kube-controller-manager, building what is missing."""
    found: dict[str, Path] = {}
    assets = os.environ.get(ASSETS_ENV)
    if assets:
        found = from_assets(assets, ("etcd", "kube-apiserver", "kube-controller-manager"))
    needed = [t for t in (ETCD, KUBE_APISERVER, KUBE_CONTROLLER_MANAGER) if t.binary not in found]
    for tool, path in zip(needed, ensure_all_built(needed, build=build, out=out), strict=True):
        found[tool.binary] = path
    return Binaries(
        etcd=found["etcd"],
        kube_apiserver=found["kube-apiserver"],
        kube_controller_manager=found["kube-controller-manager"],
    )


def helm(*, build: bool = True, out: TextIO | None = None) -> Path:
    return ensure_built(HELM, build=build, out=out)


def kubectl(*, build: bool = True, out: TextIO | None = None) -> Path:
    """kubectl of the control plane's own release, built from the same module (no package)."""
    return ensure_built(KUBECTL, build=build, out=out)


def ensure_built(tool: GoTool, *, build: bool = True, out: TextIO | None = None) -> Path:
    """The cached binary for ``tool``, built from its pinned Go module on first use."""
    return ensure_all_built([tool], build=build, out=out)[0]


def ensure_all_built(
    tools: Sequence[GoTool], *, build: bool = True, out: TextIO | None = None
) -> list[Path]:
    """The cached binaries for ``tools``, building what is missing.

    The tools of one module are built by one ``go build`` (shared packages compile once, the
    links run side by side), and different modules build at the same time, so one module's
    download overlaps another's compile: on a bare 2-core machine that is what keeps
    ``make demo`` short.
    """
    targets = [tool_dir(tool) / tool.binary for tool in tools]
    missing: dict[Path, list[GoTool]] = {}
    for tool, target in zip(tools, targets, strict=True):
        if not _is_executable(target):
            missing.setdefault(target.parent, []).append(tool)
    if missing and not build:
        names = ", ".join(t.binary for group in missing.values() for t in group)
        raise ControlPlaneError(f"{names} not built yet.", fix="run `make binaries` once")
    if missing:
        go = shutil.which("go")
        if go is None:
            raise ControlPlaneError(
                "the Go toolchain (`go`) is not on PATH; it is needed to build "
                f"{', '.join(t.binary for group in missing.values() for t in group)} from source.",
                fix=f"install Go 1.26 or newer (https://go.dev/doc/install), or set {ASSETS_ENV} "
                "to a folder holding prebuilt kube-apiserver and etcd",
            )
        with ThreadPoolExecutor(max_workers=len(missing)) as pool:
            builds = [
                pool.submit(_build_group, go, folder, group, out or sys.stderr)
                for folder, group in missing.items()
            ]
            for done in builds:
                done.result()
    return targets


def _build_group(go: str, folder: Path, tools: list[GoTool], out: TextIO) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    # Several test processes may start at once on a bare machine: one builds, the rest wait.
    with exclusive(folder / ".lock"):
        still = [t for t in tools if not _is_executable(folder / t.binary)]
        if still:
            _go_build(go, still, folder, out)


@contextlib.contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
    """Hold ``lock_path`` exclusively: several test processes may build at once."""
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _ldflags(tool: GoTool) -> str:
    flags = ["-s", "-w"]
    if tool.module_dir == "kube":
        # Without these the server reports v0.0.0-master and clients (helm, kubectl) misjudge it.
        major, minor = tool.version.lstrip("v").split(".")[:2]
        prefix = "k8s.io/component-base/version"
        flags += [
            f"-X {prefix}.gitVersion={tool.version}",
            f"-X {prefix}.gitMajor={major}",
            f"-X {prefix}.gitMinor={minor}",
            f"-X {prefix}.gitTreeState=clean",
        ]
    return " ".join(flags)


def _go_build(go: str, tools: list[GoTool], folder: Path, out: TextIO) -> None:
    first = tools[0]
    names = ", ".join(t.binary for t in tools)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=folder))
    log_path = folder / f"{first.binary}.build.log"
    # One package: -o names the file. Several: -o names a folder, and each binary is named
    # after its package's last element (kube-apiserver, kubectl...).
    output = str(staging / first.binary) if len(tools) == 1 else f"{staging}/"
    command = [
        go, "build", "-v", "-trimpath", "-ldflags", _ldflags(first),
        "-o", output, *(t.package for t in tools),
    ]  # fmt: skip
    # GOGC=400: the compiler spends much of its time collecting garbage; with memory to spare
    # (a compile of these packages peaks near 2 GB), a cold kube-apiserver and
    # kube-controller-manager build took 390 s instead of 484 s on 2 cores.
    env = {"GOGC": "400", **os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly"}
    started = time.monotonic()
    label = f"building {names} {first.version} from source (once; cached in {folder})"
    try:
        with log_path.open("w") as log:
            process = subprocess.Popen(
                command,
                cwd=first.module_path,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )
            _show_progress(process, label, log_path, started, out)
        if process.returncode != 0:
            tail = _tail(log_path, 25)
            raise ControlPlaneError(
                f"building {names} {first.version} failed (go build exit "
                f"{process.returncode}); last lines of {log_path}:\n{tail}",
                fix="fix the cause shown above (network to the Go module proxy, disk space, "
                f"Go version >= the go line in {first.module_path / 'go.mod'}) and run again, "
                f"or set {ASSETS_ENV} to prebuilt binaries",
            )
        for tool in tools:
            os.replace(staging / tool.binary, folder / tool.binary)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    elapsed = time.monotonic() - started
    out.write(f"\rbuilt {names} {first.version} in {elapsed:.0f}s{' ' * 40}\n")
    out.flush()


def _show_progress(
    process: subprocess.Popen[str], label: str, log_path: Path, started: float, out: TextIO
) -> None:
    interactive = out.isatty()
    stop = threading.Event()

    def report() -> None:
        last_printed = 0.0
        while not stop.wait(1.0):
            elapsed = time.monotonic() - started
            last = _tail(log_path, 1).strip()[:60]
            line = f"{label}: {elapsed:4.0f}s {last}"
            if interactive:
                out.write(f"\r{line:<160}")
                out.flush()
            elif elapsed - last_printed >= 30:
                out.write(line + "\n")
                out.flush()
                last_printed = elapsed

    if not interactive:
        out.write(label + "\n")
        out.flush()
    reporter = threading.Thread(target=report, daemon=True)
    reporter.start()
    try:
        process.wait()
    finally:
        stop.set()
        reporter.join()


def _tail(path: Path, lines: int) -> str:
    try:
        content = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(content[-lines:])

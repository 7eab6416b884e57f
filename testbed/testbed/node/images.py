"""Container images for the node, built with no registry and no Docker engine.

Three images, each an OCI archive (``testbed.oci``) that ``ctr -n k8s.io images import`` takes:
the pause image (pause.c from the pinned Kubernetes module, compiled static), busybox (Debian's
busybox-static) and the operator: a Debian base from ``mmdebstrap`` plus the venv the
repository's Dockerfile describes, with the Dockerfile's own runtime settings
(``testbed.dockerfile``), so the two cannot drift apart.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from testbed.binaries import cache_root, exclusive
from testbed.dockerfile import (
    DEFAULT_PATH,
    ImageFacts,
    config_from_facts,
    dockerfile_facts,
    dockerfile_wheel_sources,
    image_facts,
    unmodelled_steps,
)
from testbed.errors import ControlPlaneError
from testbed.node import host
from testbed.oci import ImageConfig, write_oci_archive
from testbed.versions import KUBE_APISERVER

__all__ = [
    "BUSYBOX_IMAGE",
    "OPERATOR_REPOSITORY",
    "PAUSE_IMAGE",
    "ImageConfig",
    "ImageFacts",
    "busybox_image",
    "debian_base",
    "dockerfile_facts",
    "image_facts",
    "operator_image",
    "pause_image",
    "write_oci_archive",
]

PAUSE_TAG = "3.10.2"  # build/pause/Makefile's TAG in the pinned Kubernetes release
PAUSE_IMAGE = f"localhost/pause:{PAUSE_TAG}"
BUSYBOX_IMAGE = "localhost/busybox:latest"
OPERATOR_REPOSITORY = "localhost/reactivejob-operator"

DEBIAN_SUITE = "bookworm"
IMAGE_PYTHON = "/usr/bin/python3.11"  # bookworm's; the venv's python links to it
# python3-pip-whl: the pip that fills the venv runs from this wheel (`venv --without-pip` needs
# no python3-venv). netbase: /etc/services and /etc/protocols, as python:*-slim has them.
OPERATOR_BASE_PACKAGES = ("python3", "python3-pip-whl", "netbase")


# ---- running tools -------------------------------------------------------------------------


def _run(
    argv: Sequence[str],
    *,
    fix: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run ``argv``; its stdout, or an error quoting the tail of what it said."""
    result = subprocess.run(
        list(argv),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
    )
    if result.returncode != 0:
        said = (result.stderr.strip() or result.stdout.strip()).splitlines()
        tail = "\n".join(said[-25:]) or "(nothing)"
        raise ControlPlaneError(
            f"`{shlex.join(argv)}` failed (exit {result.returncode}); last lines it printed:\n"
            f"{tail}",
            fix=fix,
        )
    return result.stdout


def _tool(name: str, *, package: str, install: bool = True) -> str:
    # Installed with apt when missing (root only; otherwise the error says what to install);
    # Go is a prerequisite of the project, never installed from here.
    if install:
        host.ensure_packages({name: package})
    found = shutil.which(name)
    if found is None:
        raise ControlPlaneError(
            f"`{name}` is not on PATH; it is needed to build the node's images.",
            fix=f"install the Debian package {package} (`apt-get install {package}`)",
        )
    return found


def _require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise ControlPlaneError(
            f"{what} needs root (mmdebstrap's root mode and chroot).",
            fix="run as root, as the real-node tests and CI do",
        )


def _is_static_elf(path: Path) -> bool:
    """True for an ELF file with no program interpreter: it runs in an image with no libc."""
    with path.open("rb") as binary:
        header = binary.read(64)
        if header[:4] != b"\x7fELF" or header[4] != 2:  # 64-bit ELF only
            return False
        (phoff,) = struct.unpack_from("<Q", header, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", header, 0x36)
        binary.seek(phoff)
        table = binary.read(phentsize * phnum)
    pt_interp = 3
    return all(struct.unpack_from("<I", table, i * phentsize)[0] != pt_interp for i in range(phnum))


# ---- pause ---------------------------------------------------------------------------------


def pause_image(work: Path, archive: Path) -> Path:
    """The sandbox image: Kubernetes' own pause.c, compiled static, as upstream ships it."""
    source = pause_source()
    rootfs = work / "pause-rootfs"
    shutil.rmtree(rootfs, ignore_errors=True)
    rootfs.mkdir(parents=True)
    binary = rootfs / "pause"
    # The flags of build/pause/Makefile; its REV (a git describe) is the module's version here.
    _run(
        [
            _tool("gcc", package="gcc"), "-Os", "-Wall", "-Werror", "-static",
            f"-DVERSION=v{PAUSE_TAG}-{KUBE_APISERVER.version}", "-o", str(binary), str(source),
        ],
        fix="install gcc and the static C library (`apt-get install gcc libc6-dev`)",
    )  # fmt: skip
    if not _is_static_elf(binary):
        raise ControlPlaneError(
            f"{binary} is not a static binary, so it cannot run in an image without libc.",
            fix="install libc6-dev (its libc.a is what `gcc -static` links)",
        )
    binary.chmod(0o755)
    config = ImageConfig(entrypoint=("/pause",), user="65535:65535")
    return write_oci_archive(rootfs, PAUSE_IMAGE, archive, config=config)


def pause_source() -> Path:
    """build/pause/linux/pause.c of the Kubernetes module the control plane is built from."""
    module = f"{KUBE_APISERVER.pinned_module}@{KUBE_APISERVER.version}"
    fix = "check the network to the Go module proxy, or run `make binaries` once (it fills it)"
    out = _run(
        [_tool("go", package="golang", install=False), "mod", "download", "-json", module],
        cwd=KUBE_APISERVER.module_path,
        fix=fix,
    )
    source = Path(json.loads(out)["Dir"]) / "build" / "pause" / "linux" / "pause.c"
    if not source.is_file():
        raise ControlPlaneError(f"{module} has no {source}.", fix=fix)
    return source


# ---- busybox -------------------------------------------------------------------------------


def busybox_image(archive: Path) -> Path:
    """A busybox image: Debian's static busybox and a link in /bin for each of its applets."""
    busybox = Path("/bin/busybox")
    if not busybox.is_file() or not _is_static_elf(busybox):
        raise ControlPlaneError(
            f"{busybox} is missing or linked dynamically (it must run in an image with no libc).",
            fix="install the Debian package busybox-static (`apt-get install busybox-static`)",
        )
    with tempfile.TemporaryDirectory(prefix="busybox-rootfs-") as scratch:
        rootfs = Path(scratch)
        _busybox_tree(rootfs, busybox)
        config = ImageConfig(env={"PATH": DEFAULT_PATH}, cmd=("sh",))
        return write_oci_archive(rootfs, BUSYBOX_IMAGE, archive, config=config)


def _busybox_tree(rootfs: Path, busybox: Path) -> None:
    applets = _run([str(busybox), "--list"], fix="reinstall busybox-static").split()
    bin_dir = rootfs / "bin"
    bin_dir.mkdir(mode=0o755)
    shutil.copyfile(busybox, bin_dir / "busybox")
    (bin_dir / "busybox").chmod(0o755)
    for applet in sorted(set(applets) - {"busybox"}):
        (bin_dir / applet).symlink_to("busybox")
    # Names for `id`, `ls -l` and shells; a world-writable /tmp as every base image has.
    etc = rootfs / "etc"
    etc.mkdir(mode=0o755)
    (etc / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    )
    (etc / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    for name in ("passwd", "group"):
        (etc / name).chmod(0o644)
    (rootfs / "tmp").mkdir()
    (rootfs / "tmp").chmod(0o1777)
    rootfs.chmod(0o755)


# ---- the Debian base -----------------------------------------------------------------------

# Docs, manuals and translations never reach the image; licences stay.
_DPKG_FILTERS = (
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/lintian/*",
)
# The layer writer fixes every mtime, which would make every timestamp-checked .pyc stale (and,
# with PYTHONDONTWRITEBYTECODE on a read-only root, recompiled at each start): the stdlib is
# compiled once more with hash-based, never-checked .pyc files. Logs of the install go too.
_BASE_HOOKS = (
    f'chroot "$1" {IMAGE_PYTHON} -m compileall -q -f --invalidation-mode unchecked-hash'
    f" /usr/lib/{Path(IMAGE_PYTHON).name}",
    'find "$1/var/log" -type f -delete',
    'rm -f "$1"/var/lib/dpkg/*-old "$1"/var/cache/debconf/*-old "$1"/var/cache/ldconfig/aux-cache',
)


def debian_base(packages: Sequence[str] = OPERATOR_BASE_PACKAGES) -> Path:
    """A tarball of Debian bookworm with ``packages``, cached by its recipe."""
    options = _mmdebstrap_options(packages)
    key = hashlib.sha256("\0".join([DEBIAN_SUITE, *options]).encode()).hexdigest()[:16]
    folder = cache_root() / "images"
    folder.mkdir(parents=True, exist_ok=True)
    tarball = folder / f"debian-{DEBIAN_SUITE}-{key}.tar"
    with exclusive(folder / f".{tarball.name}.lock"):
        if not tarball.is_file():
            _mmdebstrap(options, tarball)
    return tarball


def _mmdebstrap_options(packages: Sequence[str]) -> list[str]:
    return [
        "--variant=essential",  # Essential:yes only (no apt): the image installs nothing
        f"--include={','.join(sorted(packages))}",
        "--aptopt=APT::Install-Recommends false",  # python3.11's ca-certificates, openssl...
        # mmdebstrap's own merged-/usr set-up: without it apt satisfies init-system-helpers'
        # "usrmerge | usr-is-merged" with usrmerge, which brings all of perl (46 MB).
        "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
        *(f"--dpkgopt={rule}" for rule in _DPKG_FILTERS),
        *(f"--customize-hook={hook}" for hook in _BASE_HOOKS),
    ]


def _mmdebstrap(options: Sequence[str], tarball: Path) -> None:
    _require_root("building the Debian base")
    partial = tarball.with_name(f".{tarball.name}.partial")
    try:
        _run(
            [
                _tool("mmdebstrap", package="mmdebstrap"), "--mode=root", "--format=tar",
                *options, DEBIAN_SUITE, str(partial), *debian_sources(DEBIAN_SUITE),
            ],
            fix="check the network to the Debian mirror in /etc/apt/sources.list*",
        )  # fmt: skip
        os.replace(partial, tarball)
    finally:
        partial.unlink(missing_ok=True)


def debian_sources(suite: str) -> list[str]:
    """One-line apt sources for ``suite`` and its -updates/-security, from this machine's apt
    configuration (so the mirror, and a snapshot if one is set, are the machine's own)."""
    entries = [_one_line(e) for e in _apt_entries() if e["suite"].split("-")[0] == suite]
    if entries:
        return entries
    # No such suite configured (another release's host): Debian's own mirrors.
    return [
        f"deb http://deb.debian.org/debian {suite} main",
        f"deb http://deb.debian.org/debian {suite}-updates main",
        f"deb http://deb.debian.org/debian-security {suite}-security main",
    ]


def _one_line(entry: Mapping[str, str]) -> str:
    signed = f"[signed-by={entry['signed_by']}] " if entry["signed_by"] else ""
    return f"deb {signed}{entry['uri']} {entry['suite']} {entry['components']}"


def _apt_entries() -> Iterator[dict[str, str]]:
    apt = Path("/etc/apt")
    paths = [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*.list"))]
    for path in paths:
        if path.is_file():
            yield from _one_line_entries(path.read_text())
    for path in sorted((apt / "sources.list.d").glob("*.sources")):
        yield from _deb822_entries(path.read_text())


def _one_line_entries(text: str) -> Iterator[dict[str, str]]:
    for raw in text.splitlines():
        match = re.match(r"^\s*deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s+(.+?)\s*$", raw)
        if match:
            options = dict(o.partition("=")[::2] for o in (match[1] or "").split())
            yield {
                "uri": match[2],
                "suite": match[3],
                "components": match[4],
                "signed_by": options.get("signed-by", ""),
            }


def _deb822_entries(text: str) -> Iterator[dict[str, str]]:
    for paragraph in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        current = ""
        for line in paragraph.splitlines():
            if line.startswith("#"):
                continue
            if line[:1] in (" ", "\t") and current:
                fields[current] += "\n" + line.strip()
            elif ":" in line:
                current, _, value = line.partition(":")
                current = current.strip().lower()
                fields[current] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled") == "no":
            continue
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                yield {
                    "uri": uri,
                    "suite": suite,
                    "components": fields.get("components", "main"),
                    "signed_by": fields.get("signed-by", ""),
                }


# ---- the operator --------------------------------------------------------------------------


def operator_image(archive: Path, *, repo: Path) -> Path:
    """The operator's image, with what the repository's Dockerfile puts in its final stage, on
    a Debian base instead of python:*-slim."""
    _require_root("building the operator image")
    dockerfile = repo / "Dockerfile"
    facts = dockerfile_facts(dockerfile)
    venv = facts.env.get("VIRTUAL_ENV")
    unmodelled = unmodelled_steps(dockerfile)
    if not venv or not facts.distributions or unmodelled:
        said = "".join(f"\n  {step}" for step in unmodelled)
        raise ControlPlaneError(
            f"{dockerfile}'s final stage is not just a venv filled by pip install (ENV "
            f"VIRTUAL_ENV=..., RUN ... pip install ...), so this build would differ from it{said}",
            fix="teach testbed/testbed/node/images.py (operator_image) the new step",
        )
    base = debian_base()
    with tempfile.TemporaryDirectory(prefix="reactivejob-image-") as scratch:
        wheels = build_wheels(
            [repo / source for source in dockerfile_wheel_sources(dockerfile)],
            Path(scratch) / "wheels",
        )
        rootfs = Path(scratch) / "rootfs"
        _unpack(base, rootfs)
        _install_venv(rootfs, venv, wheels, sorted(facts.distributions))
        _check_entrypoint_runs(rootfs, facts)
        _clear(rootfs, "dev", "tmp", "root")
        name = f"{OPERATOR_REPOSITORY}:{project_version(repo)}"
        return write_oci_archive(rootfs, name, archive, config=config_from_facts(facts))


def project_version(repo: Path) -> str:
    version: str = tomllib.loads((repo / "pyproject.toml").read_text())["project"]["version"]
    return version


def build_wheels(sources: Sequence[Path], destination: Path) -> list[Path]:
    """``pip wheel`` of ``sources`` and every dependency, with the image's Python version."""
    destination.mkdir(parents=True, exist_ok=True)
    _run(
        [
            _host_python(), "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(destination),
            *(str(source) for source in sources),
        ],
        fix="check the network to the package index pip is configured with",
    )  # fmt: skip
    return sorted(destination.glob("*.whl"))


def _host_python() -> str:
    # Compiled wheels (aiohttp, pydantic-core...) must match the image's Python version.
    wanted = Path(IMAGE_PYTHON).name
    if f"python{sys.version_info.major}.{sys.version_info.minor}" == wanted:
        return sys.executable
    found = shutil.which(wanted)
    if found is None:
        raise ControlPlaneError(
            f"no {wanted} here to build the image's wheels with (this is {sys.executable}).",
            fix=f"run with {wanted} (the project's .venv), or put {wanted} with pip on PATH",
        )
    return found


def _unpack(tarball: Path, rootfs: Path) -> None:
    rootfs.mkdir()
    _run(
        ["tar", "--extract", "--numeric-owner", "--same-owner", "--preserve-permissions",
         "--file", str(tarball), "--directory", str(rootfs)],
        fix=f"delete the cached base {tarball} so it is built again",
    )  # fmt: skip
    if not (rootfs / IMAGE_PYTHON.lstrip("/")).is_file():
        raise ControlPlaneError(
            f"the base {tarball} has no {IMAGE_PYTHON}.", fix=f"delete {tarball} and run again"
        )


def _chroot(rootfs: Path, argv: Sequence[str], *, env: Mapping[str, str], user: str = "") -> str:
    userspec = [f"--userspec={user}"] if user else []
    return _run(
        [_tool("chroot", package="coreutils"), *userspec, str(rootfs), *argv],
        env=env,
        fix="see the output above; the base is cached in "
        f"{cache_root() / 'images'} (delete it to build it again)",
    )


def _install_venv(rootfs: Path, venv: str, wheels: Sequence[Path], wanted: Sequence[str]) -> None:
    """The venv the Dockerfile makes: no pip in it, only the wheels, byte-compiled."""
    staged = rootfs / "tmp" / "wheels"
    staged.mkdir()
    for wheel in wheels:
        shutil.copyfile(wheel, staged / wheel.name)
    # Only the image's own paths: the host's PIP_* settings mean nothing inside.
    env = {"PATH": DEFAULT_PATH, "HOME": "/root", "LANG": "C.UTF-8"}
    python = f"{venv}/bin/python"
    _chroot(rootfs, [IMAGE_PYTHON, "-m", "venv", "--without-pip", venv], env=env)
    # pip runs from Debian's pip wheel (python3-pip-whl), as ensurepip does, so the venv
    # never holds pip itself.
    pip_wheels = sorted((rootfs / "usr/share/python-wheels").glob("pip-*.whl"))
    if not pip_wheels:
        raise ControlPlaneError("the base has no pip wheel.", fix="add python3-pip-whl to it")
    pip_env = {**env, "PYTHONPATH": "/" + pip_wheels[-1].relative_to(rootfs).as_posix()}
    _chroot(
        rootfs,
        [
            python, "-m", "pip", "install", "--no-index", "--find-links", "/tmp/wheels",
            "--no-cache-dir", "--disable-pip-version-check", "--root-user-action=ignore",
            "--no-compile", *wanted,
        ],
        env=pip_env,
    )  # fmt: skip
    # Hash-based .pyc: valid whatever mtime the layer gives the sources (see _BASE_HOOKS).
    _chroot(
        rootfs,
        [python, "-m", "compileall", "-q", "-j0", "--invalidation-mode", "unchecked-hash", venv],
        env=env,
    )
    shutil.rmtree(staged)


def _check_entrypoint_runs(rootfs: Path, facts: ImageFacts) -> None:
    # The Dockerfile's own check (`reactivejob-operator --help`), as the image's user.
    user = facts.user or "0:0"
    _chroot(rootfs, [*facts.entrypoint, "--help"], env=facts.env, user=user)


def _clear(rootfs: Path, *folders: str) -> None:
    """Empty each folder: the runtime mounts /dev, and build leftovers have no place here."""
    for folder in folders:
        if not (rootfs / folder).is_dir():
            continue
        for child in (rootfs / folder).iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()

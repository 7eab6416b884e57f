"""The node's three images, built as the e2e tier builds them: busybox and pause, and the
operator's, which must be what the Dockerfile describes (user, entrypoint, command,
environment, ports, and exactly the wheels `pip wheel .` makes), so the two cannot drift.
Root and Debian packages (installed when missing), as for the rest of this tier."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from codegen.paths import REPO
from testbed import dockerfile
from testbed.node import images
from tests.unit.test_images import (
    _pycache_prefix,
    layer_file,
    layer_members,
    link_target,
    read_layout,
    require_debian_packages,
    sha256_of,
)

# Builds and starts what the tier needs in its set-up: beyond the default per-test limit.
pytestmark = pytest.mark.timeout(1200)

# ---- the three images (Debian packages, the Go module cache, root for the operator) --------


def test_busybox_image(tmp_path: Path) -> None:
    require_debian_packages("busybox-static")
    archive = images.busybox_image(tmp_path / "busybox.tar")
    layout = read_layout(archive)
    assert layout["entry"]["annotations"]["io.containerd.image.name"] == images.BUSYBOX_IMAGE
    members = layer_members(layout["layers"][0])
    assert members["bin/busybox"].mode == 0o755
    for applet in ("sh", "echo", "sleep", "cat", "ls", "true", "false", "env", "wget"):
        assert members[f"bin/{applet}"].linkname == "busybox", applet
    assert layout["config"]["config"]["Cmd"] == ["sh"]
    binary = tmp_path / "busybox"
    binary.write_bytes(layer_file(layout["layers"][0], "bin/busybox"))
    binary.chmod(0o755)
    run = subprocess.run([binary, "echo", "ok"], capture_output=True, text=True, check=True)
    assert run.stdout == "ok\n"


def test_pause_image(tmp_path: Path) -> None:
    require_debian_packages("gcc", "libc6-dev")
    if shutil.which("go") is None:
        pytest.fail("the pause image needs `go` (to find pause.c in the Kubernetes module)")
    archive = images.pause_image(tmp_path / "work", tmp_path / "pause.tar")
    layout = read_layout(archive)
    assert layout["entry"]["annotations"]["io.containerd.image.name"] == images.PAUSE_IMAGE
    assert layout["config"]["config"] == {"Entrypoint": ["/pause"], "User": "65535:65535"}
    members = layer_members(layout["layers"][0])
    assert list(members) == ["pause"]
    assert members["pause"].mode == 0o755
    binary = tmp_path / "pause"
    binary.write_bytes(layer_file(layout["layers"][0], "pause"))
    binary.chmod(0o755)
    run = subprocess.run([binary, "-v"], capture_output=True, text=True, check=True)
    assert run.stdout.startswith(f"pause.c v{images.PAUSE_TAG}-v")
    again = images.pause_image(tmp_path / "work", tmp_path / "again.tar")
    assert sha256_of(again) == sha256_of(archive)


@pytest.fixture(scope="module")
def dockerfile_wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """What `pip wheel --wheel-dir /wheels .` of the Dockerfile's builder stage produces."""
    destination = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(destination), "."],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    wheels = {}
    for wheel in destination.glob("*.whl"):
        name, version = wheel.name.split("-")[:2]
        wheels[dockerfile.normalize(name)] = version
    return wheels


@pytest.mark.timeout(1200)
def test_operator_image_is_what_the_dockerfile_describes(operator_archive: Path) -> None:
    image = dockerfile.image_facts(operator_archive)
    described = dockerfile.dockerfile_facts(REPO / "Dockerfile")
    assert image.user == described.user == "65532:65532"
    assert image.entrypoint == described.entrypoint
    assert image.cmd == described.cmd
    assert image.env == described.env
    assert image.exposed_ports == described.exposed_ports
    assert image.labels == described.labels
    assert image.working_dir == described.working_dir
    layout = read_layout(operator_archive)
    name = layout["entry"]["annotations"]["io.containerd.image.name"]
    assert name == f"{images.OPERATOR_REPOSITORY}:{images.project_version(REPO)}"


@pytest.mark.timeout(1200)
def test_operator_venv_holds_exactly_the_dockerfile_wheels(
    operator_archive: Path, dockerfile_wheels: dict[str, str]
) -> None:
    installed = dockerfile.image_facts(operator_archive).distributions
    assert "kopf" in installed  # the comparison is of real lists
    assert installed == dockerfile_wheels
    asked = dockerfile.dockerfile_facts(REPO / "Dockerfile").distributions
    assert set(asked) <= set(installed)


@pytest.mark.timeout(1200)
def test_operator_venv_runs_on_the_image_python_and_is_compiled(operator_archive: Path) -> None:
    [layer] = read_layout(operator_archive)["layers"]
    members = layer_members(layer)
    assert link_target(members, "opt/venv/bin/python") == images.IMAGE_PYTHON
    assert members[images.IMAGE_PYTHON.lstrip("/")].isfile()
    assert "opt/venv/bin/pip" not in members  # as the Dockerfile's --without-pip venv
    sources = [n for n in members if n.startswith("opt/venv/") and n.endswith(".py")]
    compiled = {n for n in members if n.endswith(".pyc")}
    uncompiled = [
        source
        for source in sources
        if not any(c.startswith(_pycache_prefix(source)) for c in compiled)
    ]
    assert len(sources) > 100
    assert uncompiled == []
    # Kept small: no package lists, manuals or translations; licences stay.
    assert not [n for n in members if n.startswith("var/lib/apt/lists/") and "." in n[18:]]
    assert not [n for n in members if n.startswith(("usr/share/man/", "usr/share/locale/"))]
    docs = [n for n in members if n.startswith("usr/share/doc/") and members[n].isfile()]
    assert docs and all(n.endswith("/copyright") for n in docs)
    assert not [n for n in members if n.startswith(("dev/", "tmp/"))]

"""The node's images: OCI archives that containerd imports, built with no registry or Docker.

The layout checks here are written from the OCI image spec, not from the writer, so a wrong
digest, size or media type fails here before `ctr images import` ever sees it. The tests that
need Debian packages install them when run as root and fail (never skip) otherwise.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from codegen.paths import REPO
from testbed import dockerfile, oci
from testbed.node import images

# ---- helpers -------------------------------------------------------------------------------


def require_debian_packages(*packages: str) -> None:
    """Install what is missing when root; otherwise fail, naming the command to run."""
    missing = [p for p in packages if not _installed(p)]
    if not missing:
        return
    if os.geteuid() != 0:
        pytest.fail(
            f"this test needs the Debian packages {', '.join(missing)}; "
            f"run `sudo apt-get install {' '.join(missing)}` (or run the tests as root)"
        )
    install = ["apt-get", "install", "--yes", "--no-install-recommends", *missing]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
        # A fresh machine has no package lists yet.
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=True)
        result = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            pytest.fail(f"`{' '.join(install)}` failed:\n{result.stderr[-2000:]}")


def _installed(package: str) -> bool:
    result = subprocess.run(
        ["dpkg-query", "--show", "--showformat=${db:Status-Status}", package],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout == "installed"


def read_layout(archive: Path) -> dict[str, Any]:
    """Check ``archive`` against the OCI image layout spec; its documents, for more checks."""
    with tarfile.open(archive) as outer:
        files = {m.name: m for m in outer.getmembers() if m.isfile()}

        def content(name: str) -> bytes:
            stream = outer.extractfile(files[name])
            assert stream is not None
            return stream.read()

        def blob(descriptor: dict[str, Any], media_type: str) -> bytes:
            assert descriptor["mediaType"] == media_type
            algorithm, _, hexdigest = descriptor["digest"].partition(":")
            assert algorithm == "sha256"
            data = content(f"blobs/sha256/{hexdigest}")
            assert hashlib.sha256(data).hexdigest() == hexdigest
            assert len(data) == descriptor["size"]
            return data

        assert json.loads(content("oci-layout")) == {"imageLayoutVersion": "1.0.0"}
        index = json.loads(content("index.json"))
        assert index["schemaVersion"] == 2
        assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
        [entry] = index["manifests"]
        manifest = json.loads(blob(entry, "application/vnd.oci.image.manifest.v1+json"))
        assert manifest["schemaVersion"] == 2
        config_type = "application/vnd.oci.image.config.v1+json"
        config = json.loads(blob(manifest["config"], config_type))
        layers = [blob(d, "application/vnd.oci.image.layer.v1.tar") for d in manifest["layers"]]
        # Uncompressed layers: the diff_id is the digest of the blob itself.
        diff_ids = [f"sha256:{hashlib.sha256(layer).hexdigest()}" for layer in layers]
        assert config["rootfs"] == {"type": "layers", "diff_ids": diff_ids}
        assert (config["architecture"], config["os"]) == (oci.ARCHITECTURE, "linux")
        blob_names = {name for name in files if name.startswith("blobs/")}
        expected = {entry["digest"], manifest["config"]["digest"]}
        expected |= {d["digest"] for d in manifest["layers"]}
        assert blob_names == {"blobs/" + d.replace(":", "/") for d in expected}
    return {"index": index, "entry": entry, "config": config, "layers": layers}


def layer_members(layer: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        return {member.name: member for member in tar.getmembers()}


def layer_file(layer: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        stream = tar.extractfile(name)
        assert stream is not None
        return stream.read()


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "usr" / "bin").mkdir(parents=True)
    tool = root / "usr" / "bin" / "tool"
    tool.write_text("#!/bin/sh\necho hi\n")
    tool.chmod(0o755)
    (root / "usr" / "bin" / "alias").symlink_to("tool")
    (root / "etc").mkdir()
    (root / "etc" / "motd").write_text("hello\n")
    (root / "etc" / "motd").chmod(0o600)
    os.link(tool, root / "usr" / "bin" / "same")
    (root / "tmp").mkdir()
    (root / "tmp").chmod(0o1777)
    return root


CONFIG = oci.ImageConfig(
    entrypoint=("/usr/bin/tool",),
    cmd=("--flag",),
    env={"PATH": "/usr/bin", "HOME": "/tmp"},
    user="65532:65532",
    working_dir="/work",
    exposed_ports=("8080/tcp",),
    labels={"org.opencontainers.image.title": "tool"},
)


# ---- the archive writer --------------------------------------------------------------------


def test_archive_is_an_oci_layout_containerd_names(tree: Path, tmp_path: Path) -> None:
    archive = oci.write_oci_archive(
        tree, "localhost/tool:1.2.3", tmp_path / "tool.tar", config=CONFIG
    )
    layout = read_layout(archive)
    assert layout["entry"]["annotations"] == {
        "io.containerd.image.name": "localhost/tool:1.2.3",
        "org.opencontainers.image.ref.name": "1.2.3",
    }
    assert layout["entry"]["platform"] == {"architecture": oci.ARCHITECTURE, "os": "linux"}
    assert layout["config"]["config"] == {
        "Entrypoint": ["/usr/bin/tool"],
        "Cmd": ["--flag"],
        "Env": ["PATH=/usr/bin", "HOME=/tmp"],
        "User": "65532:65532",
        "WorkingDir": "/work",
        "ExposedPorts": {"8080/tcp": {}},
        "Labels": {"org.opencontainers.image.title": "tool"},
    }


def test_layer_keeps_modes_links_and_sorts_entries(tree: Path, tmp_path: Path) -> None:
    archive = oci.write_oci_archive(tree, "localhost/t:1", tmp_path / "t.tar", config=CONFIG)
    [layer] = read_layout(archive)["layers"]
    members = layer_members(layer)
    assert list(members) == [
        "etc", "etc/motd", "tmp", "usr", "usr/bin",
        "usr/bin/alias", "usr/bin/same", "usr/bin/tool",
    ]  # fmt: skip
    assert members["usr/bin/tool"].mode == 0o755
    assert members["etc/motd"].mode == 0o600
    assert members["tmp"].mode == 0o1777
    assert members["usr/bin/alias"].issym() and members["usr/bin/alias"].linkname == "tool"
    # The first name of a hard-linked file carries the data; later names link to it.
    assert members["usr/bin/same"].isfile()
    assert members["usr/bin/tool"].islnk()
    assert members["usr/bin/tool"].linkname == "usr/bin/same"
    assert {(m.uid, m.gid, m.mtime, m.uname) for m in members.values()} == {(0, 0, 0, "")}
    assert layer_file(layer, "etc/motd") == b"hello\n"


def test_same_tree_gives_the_same_archive(tree: Path, tmp_path: Path) -> None:
    first = oci.write_oci_archive(tree, "localhost/t:1", tmp_path / "a.tar", config=CONFIG)
    again = oci.write_oci_archive(tree, "localhost/t:1", tmp_path / "b.tar", config=CONFIG)
    assert sha256_of(again) == sha256_of(first)
    (tree / "usr" / "bin" / "same").unlink()  # copytree would split the hard link in two
    copy = tmp_path / "copy"
    shutil.copytree(tree, copy, symlinks=True)
    os.utime(copy / "etc" / "motd", (1_000_000, 1_000_000))  # only times differ
    one = oci.write_oci_archive(tree, "localhost/t:1", tmp_path / "c.tar", config=CONFIG)
    two = oci.write_oci_archive(copy, "localhost/t:1", tmp_path / "d.tar", config=CONFIG)
    assert sha256_of(one) == sha256_of(two)


def test_a_changed_file_changes_the_digest(tree: Path, tmp_path: Path) -> None:
    before = oci.write_oci_archive(tree, "localhost/t:1", tmp_path / "a.tar", config=CONFIG)
    (tree / "etc" / "motd").chmod(0o644)
    after = oci.write_oci_archive(tree, "localhost/t:1", tmp_path / "b.tar", config=CONFIG)
    assert sha256_of(before) != sha256_of(after)


@pytest.mark.parametrize(
    "name", ["busybox", "busybox:latest", "localhost/busybox", "library/busybox:1"]
)
def test_names_must_be_full_references(name: str, tree: Path, tmp_path: Path) -> None:
    # containerd stores the name as given and the kubelet asks for the normalized one.
    with pytest.raises(ValueError, match="full reference"):
        oci.write_oci_archive(tree, name, tmp_path / "x.tar", config=CONFIG)


def test_image_facts_read_the_config_and_the_venv(tree: Path, tmp_path: Path) -> None:
    site = tree / "opt" / "venv" / "lib" / "python3.11" / "site-packages"
    for dist_info in ("reactivejob_operator-0.1.0.dist-info", "PyYAML-6.0.2.dist-info"):
        (site / dist_info).mkdir(parents=True)
        (site / dist_info / "METADATA").write_text("Metadata-Version: 2.1\n")
    (site / "yaml").mkdir()
    config = oci.ImageConfig(
        entrypoint=("reactivejob-operator",),
        env={"VIRTUAL_ENV": "/opt/venv", "PATH": "/opt/venv/bin"},
        user="65532:65532",
        exposed_ports=("8080/tcp", "9443/tcp"),
    )
    archive = oci.write_oci_archive(tree, "localhost/o:1", tmp_path / "o.tar", config=config)
    assert dockerfile.image_facts(archive) == dockerfile.ImageFacts(
        user="65532:65532",
        entrypoint=("reactivejob-operator",),
        cmd=(),
        env={"VIRTUAL_ENV": "/opt/venv", "PATH": "/opt/venv/bin"},
        working_dir="",
        exposed_ports=frozenset({"8080/tcp", "9443/tcp"}),
        labels={},
        distributions={"reactivejob-operator": "0.1.0", "pyyaml": "6.0.2"},
    )


# ---- the Dockerfile ------------------------------------------------------------------------


def test_facts_of_the_repository_dockerfile() -> None:
    facts = dockerfile.dockerfile_facts(REPO / "Dockerfile")
    assert facts.user == "65532:65532"
    assert facts.entrypoint == ("reactivejob-operator",)
    assert facts.cmd == ("run", "--all-namespaces")
    assert facts.env == {
        "PATH": f"/opt/venv/bin:{dockerfile.DEFAULT_PATH}",
        "VIRTUAL_ENV": "/opt/venv",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "HOME": "/tmp",
    }
    assert facts.exposed_ports == {"8080/tcp", "8081/tcp", "9443/tcp"}
    assert facts.labels["org.opencontainers.image.title"] == "reactivejob-operator"
    assert facts.labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert facts.distributions == {"reactivejob-operator": ""}
    assert facts.working_dir == ""  # the builder's WORKDIR /src is not the final stage's
    assert dockerfile.dockerfile_wheel_sources(REPO / "Dockerfile") == (".",)


def test_facts_of_a_dockerfile_in_other_spellings(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(
        """# syntax=docker/dockerfile:1
FROM debian AS build
ENV IGNORED=1
RUN python3 -m pip wheel -w /w ./a ./b
from scratch
env GREETING hello world
ENV BASE=/srv \\
    # a comment inside the continuation
    BIN="${BASE}/bin" LIB=$BASE/lib
LABEL one="a b" two=c
WORKDIR /srv
WORKDIR app
USER nobody
EXPOSE 53/UDP 80
RUN --mount=type=cache,target=/c python3.11 -m pip install --no-index -f /w \\
        "pkg-one[extra]==1.0" Pkg.Two > /dev/null && pip3 --python /x install three
CMD echo hi
"""
    )
    facts = dockerfile.dockerfile_facts(path, base_env={"PATH": "/bin"})
    assert facts.env == {
        "PATH": "/bin",
        "GREETING": "hello world",
        "BASE": "/srv",
        "BIN": "/bin",  # ${BASE} is read before this ENV sets it, as Docker does
        "LIB": "/lib",
    }
    assert facts.labels == {"one": "a b", "two": "c"}
    assert facts.working_dir == "/srv/app"
    assert facts.user == "nobody"
    assert facts.exposed_ports == {"53/udp", "80/tcp"}
    assert facts.cmd == ("/bin/sh", "-c", "echo hi")
    assert facts.entrypoint == ()
    assert facts.distributions == {"pkg-one": "", "pkg-two": "", "three": ""}
    assert dockerfile.dockerfile_wheel_sources(path) == ("./a", "./b")


def test_steps_the_facts_do_not_describe_are_named(tmp_path: Path) -> None:
    assert dockerfile.unmodelled_steps(REPO / "Dockerfile") == []
    path = tmp_path / "Dockerfile"
    path.write_text(
        """FROM python AS build
RUN apt-get update && pip wheel .
FROM python
COPY --from=build /w /w
RUN python -m venv /v && pip install -f /w app && apt-get install -y curl && app --help
ENTRYPOINT ["app"]
"""
    )
    assert dockerfile.unmodelled_steps(path) == [
        "COPY --from=build /w /w",
        "RUN apt-get install -y curl",
    ]


def test_apt_sources_of_this_machine_are_debian_bookworm() -> None:
    sources = images.debian_sources("bookworm")
    assert sources
    for line in sources:
        assert line.startswith("deb ")
        suite = line.split()[-2]
        assert suite.split("-")[0] == "bookworm", line


def link_target(members: dict[str, tarfile.TarInfo], name: str) -> str:
    """Where a chain of symbolic links in a layer ends, as an absolute path."""
    path = PurePosixPath("/", name)
    for _ in range(10):
        member = members[str(path).lstrip("/")]
        if not member.issym():
            return str(path)
        path = path.parent / member.linkname  # an absolute linkname replaces the parent
    raise AssertionError(f"{name}: too many levels of links")


def _pycache_prefix(source: str) -> str:
    folder, _, file = source.rpartition("/")
    return f"{folder}/__pycache__/{file[:-3]}.cpython-"

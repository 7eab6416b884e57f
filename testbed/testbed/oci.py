"""OCI image archives: one tree in, one uncompressed layer out, in a tar containerd imports.

``write_oci_archive`` packs a directory as an OCI image layout (oci-layout, index.json, blobs)
in a tar, which ``ctr -n k8s.io images import`` takes as it is: no registry, no Docker engine.
The same tree and config always give the same bytes. ``image_config`` and ``layer_names`` read
an archive back, checking digests on the way.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import tarfile
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ARCHITECTURE = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())

# Every entry of a layer gets this mtime, so the same tree always gives the same digest.
LAYER_MTIME = 0

INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
IMAGE_NAME_ANNOTATION = "io.containerd.image.name"
REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"


@dataclass(frozen=True)
class ImageConfig:
    """The runtime part of an image config (OCI ``config``), as a Dockerfile would set it."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    user: str = ""
    working_dir: str = ""
    exposed_ports: tuple[str, ...] = ()  # "8080/tcp"
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Blob:
    media_type: str
    digest: str  # "sha256:<hex>"
    size: int

    @classmethod
    def of_bytes(cls, media_type: str, content: bytes) -> _Blob:
        return cls(media_type, f"sha256:{hashlib.sha256(content).hexdigest()}", len(content))

    @classmethod
    def of_file(cls, media_type: str, path: Path) -> _Blob:
        with path.open("rb") as content:
            digest = hashlib.file_digest(content, "sha256").hexdigest()
        return cls(media_type, f"sha256:{digest}", path.stat().st_size)

    @property
    def path(self) -> str:
        return _blob_path(self.digest)

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


def write_oci_archive(rootfs: Path, name: str, archive: Path, *, config: ImageConfig) -> Path:
    """Pack the tree ``rootfs`` as the one layer of image ``name`` into the OCI archive
    ``archive`` (replaced atomically). The same tree and config always give the same bytes."""
    tag = _tag_of(name)
    archive.parent.mkdir(parents=True, exist_ok=True)
    # Scratch beside the archive: the final rename stays on one file system.
    with tempfile.TemporaryDirectory(prefix=".oci-", dir=archive.parent) as scratch:
        layer_path = Path(scratch) / "layer.tar"
        _write_layer(rootfs, layer_path)
        layer = _Blob.of_file(LAYER_TYPE, layer_path)
        config_json = _canonical(_config_document(config, diff_ids=[layer.digest]))
        config_blob = _Blob.of_bytes(CONFIG_TYPE, config_json)
        manifest_json = _canonical(_manifest_document(config_blob, [layer]))
        manifest = _Blob.of_bytes(MANIFEST_TYPE, manifest_json)
        files: dict[str, bytes | Path] = {
            "oci-layout": _canonical({"imageLayoutVersion": "1.0.0"}),
            "index.json": _canonical(_index_document(manifest, name, tag)),
            config_blob.path: config_json,
            manifest.path: manifest_json,
            layer.path: layer_path,
        }
        partial = Path(scratch) / "image.tar"
        _write_outer_tar(partial, files)
        os.replace(partial, archive)
    return archive


def _tag_of(name: str) -> str:
    # The CRI looks images up by their normalized reference (domain/path:tag); a shorter name
    # imports fine and is then never found by the kubelet.
    domain, slash, rest = name.partition("/")
    qualified = slash and ("." in domain or ":" in domain or domain == "localhost")
    path, colon, tag = rest.rpartition(":")
    if not qualified or not colon or not path or "/" in tag:
        raise ValueError(
            f"image name {name!r} is not a full reference such as "
            "localhost/reactivejob-operator:0.1.0 (domain, path and tag)"
        )
    return tag


def _canonical(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _config_document(config: ImageConfig, *, diff_ids: list[str]) -> dict[str, Any]:
    runtime: dict[str, Any] = {}
    if config.user:
        runtime["User"] = config.user
    if config.env:
        runtime["Env"] = [f"{key}={value}" for key, value in config.env.items()]
    if config.entrypoint:
        runtime["Entrypoint"] = list(config.entrypoint)
    if config.cmd:
        runtime["Cmd"] = list(config.cmd)
    if config.working_dir:
        runtime["WorkingDir"] = config.working_dir
    if config.exposed_ports:
        runtime["ExposedPorts"] = {port: {} for port in config.exposed_ports}
    if config.labels:
        runtime["Labels"] = dict(config.labels)
    return {
        "architecture": ARCHITECTURE,
        "os": "linux",
        "config": runtime,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }


def _manifest_document(config: _Blob, layers: Sequence[_Blob]) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": config.descriptor(),
        "layers": [layer.descriptor() for layer in layers],
    }


def _index_document(manifest: _Blob, name: str, tag: str) -> dict[str, Any]:
    entry = {
        **manifest.descriptor(),
        "platform": {"architecture": ARCHITECTURE, "os": "linux"},
        # containerd names the imported image after the first; OCI tools after the second.
        "annotations": {IMAGE_NAME_ANNOTATION: name, REF_NAME_ANNOTATION: tag},
    }
    return {"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": [entry]}


def _walk(root: Path) -> Iterator[Path]:
    """Every path under ``root``, parents first, siblings sorted by name."""
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        yield Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path))


def _write_layer(rootfs: Path, destination: Path) -> None:
    builder_uid, builder_gid = os.getuid(), os.getgid()
    with tarfile.open(destination, "w", format=tarfile.PAX_FORMAT) as layer:
        for path in _walk(rootfs):
            info = layer.gettarinfo(str(path), arcname=path.relative_to(rootfs).as_posix())
            if info is None:  # a socket: tar has no form for it, and no image needs one
                continue
            info.mtime = LAYER_MTIME
            info.uname = info.gname = ""  # numeric ids only: the image's passwd may differ
            # The builder's own files are root's in the image (as COPY does); a tree unpacked
            # as root keeps the owners it was given.
            info.uid = 0 if info.uid == builder_uid else info.uid
            info.gid = 0 if info.gid == builder_gid else info.gid
            if info.isreg():
                with path.open("rb") as content:
                    layer.addfile(info, content)
            else:
                layer.addfile(info)


def _write_outer_tar(destination: Path, files: Mapping[str, bytes | Path]) -> None:
    directories = sorted({str(Path(name).parent) for name in files} - {"."})
    with tarfile.open(destination, "w", format=tarfile.PAX_FORMAT) as archive:
        for directory in directories:
            archive.addfile(_fixed_info(directory, tarfile.DIRTYPE, 0o755, 0))
        for name in sorted(files):
            content = files[name]
            if isinstance(content, Path):
                info = _fixed_info(name, tarfile.REGTYPE, 0o644, content.stat().st_size)
                with content.open("rb") as stream:
                    archive.addfile(info, stream)
            else:
                info = _fixed_info(name, tarfile.REGTYPE, 0o644, len(content))
                archive.addfile(info, io.BytesIO(content))


def _fixed_info(name: str, kind: bytes, mode: int, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.mtime = kind, mode, size, LAYER_MTIME
    return info


# ---- reading an archive back --------------------------------------------------------------


def image_config(archive: Path) -> dict[str, Any]:
    """The config document of the (first) image in ``archive``, its digest checked."""
    with tarfile.open(archive) as outer:
        config: dict[str, Any] = json.loads(_blob(outer, _manifest(outer)["config"]["digest"]))
    return config


def layer_names(archive: Path) -> Iterator[str]:
    """The name of every entry in every layer of the (first) image in ``archive``."""
    with tarfile.open(archive) as outer:
        for layer in _manifest(outer)["layers"]:
            stream = outer.extractfile(_blob_path(layer["digest"]))
            if stream is None:
                raise ValueError(f"{_where(outer)}: layer {layer['digest']} is not a file")
            with tarfile.open(fileobj=stream, mode="r|") as entries:
                yield from (entry.name for entry in entries)


def _manifest(outer: tarfile.TarFile) -> dict[str, Any]:
    index = json.loads(_file(outer, "index.json"))
    manifest: dict[str, Any] = json.loads(_blob(outer, index["manifests"][0]["digest"]))
    return manifest


def _blob_path(digest: str) -> str:
    return "blobs/" + digest.replace(":", "/", 1)


def _where(outer: tarfile.TarFile) -> str:
    return os.fsdecode(outer.name or "the archive")


def _file(outer: tarfile.TarFile, name: str) -> bytes:
    stream = outer.extractfile(name)
    if stream is None:
        raise ValueError(f"{_where(outer)}: {name} is not a file")
    return stream.read()


def _blob(outer: tarfile.TarFile, digest: str) -> bytes:
    content = _file(outer, _blob_path(digest))
    if f"sha256:{hashlib.sha256(content).hexdigest()}" != digest:
        raise ValueError(f"{_where(outer)}: blob {digest} does not match its digest")
    return content

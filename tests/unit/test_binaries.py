"""Bad input to the binary lookup and build: each gives one message naming cause and fix."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from testbed import binaries
from testbed.errors import ControlPlaneError
from testbed.versions import ETCD, KUBE_APISERVER, GoTool, required_version


def test_assets_dir_that_does_not_exist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(tmp_path / "nope"))
    with pytest.raises(ControlPlaneError) as error:
        binaries.resolve(build=False)
    assert "is not a directory" in error.value.cause
    assert "KUBEBUILDER_ASSETS" in error.value.fix


def test_assets_dir_without_apiserver_lists_what_it_holds(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    etcd = tmp_path / "etcd"
    etcd.write_text("#!/bin/sh\n")
    etcd.chmod(0o755)
    (tmp_path / "kubectl").write_text("")
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(tmp_path))
    with pytest.raises(ControlPlaneError) as error:
        binaries.resolve(build=False)
    assert "no executable kube-apiserver" in error.value.cause
    assert "etcd, kubectl" in error.value.cause


def test_assets_are_used_when_complete(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("etcd", "kube-apiserver", "kube-controller-manager"):
        (tmp_path / name).write_text("#!/bin/sh\n")
        (tmp_path / name).chmod(0o755)
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(tmp_path))
    found = binaries.resolve(build=False)
    assert found.kube_apiserver == tmp_path / "kube-apiserver"
    assert found.kube_controller_manager == tmp_path / "kube-controller-manager"


def test_missing_go_toolchain(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("REACTIVEJOB_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ControlPlaneError) as error:
        binaries.ensure_built(ETCD)
    assert "Go toolchain" in error.value.cause
    assert "install Go" in error.value.fix


def test_failed_build_shows_the_go_error_and_leaves_no_binary(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    module = tmp_path / "gomod" / "broken"
    module.mkdir(parents=True)
    (module / "go.mod").write_text("module example.test/broken\n\ngo 1.22\n")
    (module / "main.go").write_text("package main\n\nfunc main() { undefinedThing() }\n")
    monkeypatch.setattr("testbed.versions.GOMOD_DIR", tmp_path / "gomod")
    monkeypatch.setenv("REACTIVEJOB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(GoTool, "version", property(lambda self: "v0.0.1"))
    tool = GoTool("broken", ".", "broken", "example.test/broken")
    with pytest.raises(ControlPlaneError) as error:
        binaries.ensure_built(tool)
    assert "building broken v0.0.1 failed" in error.value.cause
    assert "undefined: undefinedThing" in error.value.cause
    assert not (binaries.tool_dir(tool) / "broken").exists()


def test_versions_are_read_from_the_pinned_go_modules() -> None:
    assert KUBE_APISERVER.version.startswith("v1.")
    assert ETCD.version.startswith("v3.")
    gomod = KUBE_APISERVER.module_path / "go.mod"
    # Every staging module is replaced with the published release that matches Kubernetes.
    staging = "v0." + KUBE_APISERVER.version.split(".", 1)[1]
    assert required_version(gomod, "k8s.io/kubernetes") == KUBE_APISERVER.version
    assert f"k8s.io/client-go => k8s.io/client-go {staging}" in gomod.read_text()


def test_tools_of_one_module_come_from_one_build(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    module = tmp_path / "gomod" / "pair"
    for name in ("first", "second"):
        (module / "cmd" / name).mkdir(parents=True)
        (module / "cmd" / name / "main.go").write_text(
            f'package main\n\nimport "fmt"\n\nfunc main() {{ fmt.Print("{name}") }}\n'
        )
    (module / "go.mod").write_text("module example.test/pair\n\ngo 1.22\n")
    monkeypatch.setattr("testbed.versions.GOMOD_DIR", tmp_path / "gomod")
    monkeypatch.setenv("REACTIVEJOB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(GoTool, "version", property(lambda self: "v0.0.1"))
    tools = [GoTool(n, f"example.test/pair/cmd/{n}", "pair", "example.test/pair")
             for n in ("first", "second")]  # fmt: skip
    progress = io.StringIO()
    paths = binaries.ensure_all_built(tools, out=progress)
    assert [subprocess.run([p], capture_output=True, text=True, check=True).stdout
            for p in paths] == ["first", "second"]  # fmt: skip
    assert progress.getvalue().count("building first, second v0.0.1") == 1

"""The operator's wheel and image hold the operator alone; the testbed ships on its own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from codegen.paths import REPO
from tests.wheels import OPERATOR, TESTBED, build_wheels, file_names, runtime_requirements


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_wheels(tmp_path_factory.mktemp("wheels"))


def top_level(names: list[str]) -> set[str]:
    return {name.split("/")[0] for name in names if ".dist-info/" not in name}


def test_operator_wheel_carries_the_operator_and_its_api_only(wheels: dict[str, Path]) -> None:
    names = file_names(wheels[OPERATOR])
    assert top_level(names) == {"reactivejob", "reactivejob_api", "typedkube", "reactivejob_cli"}
    assert "reactivejob_api/crds/reactivejobs.batch.cs.sap.com.yaml" in names
    assert "reactivejob_api/py.typed" in names
    assert "typedkube/py.typed" in names
    for name in names:
        assert not name.endswith(("go.mod", "go.sum")), name
        assert not re.search(r"(certs|demo|kubelet|controlplane|testbed)", name), name


def test_operator_needs_nothing_of_the_testbed(wheels: dict[str, Path]) -> None:
    requirements = " ".join(runtime_requirements(wheels[OPERATOR]))
    assert "kopf" in requirements  # the list is real, not empty
    for testbed_only in ("cryptography", "reactivejob-testbed"):
        assert testbed_only not in requirements


def test_testbed_wheel_carries_the_build_modules_and_the_demo(wheels: dict[str, Path]) -> None:
    names = file_names(wheels[TESTBED])
    assert top_level(names) == {"testbed"}
    for module in ("kube", "etcd", "helm"):
        assert f"testbed/gomod/{module}/go.mod" in names
        assert f"testbed/gomod/{module}/go.sum" in names
    assert "testbed/demo/reactivejob.yaml" in names
    assert any(r.startswith("cryptography") for r in runtime_requirements(wheels[TESTBED]))


def test_image_copies_only_what_the_operator_wheel_is_built_from() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    copied: set[str] = set()
    for line in dockerfile.splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            *sources, _destination = line.split()[1:]
            copied.update(source.rstrip("/") for source in sources)
    assert copied == {
        "pyproject.toml",
        "README.md",
        "reactivejob",
        "generated",
        "typedkube",
        "reactivejob_cli",
    }


def test_operator_never_imports_the_testbed() -> None:
    for path in sorted((REPO / "reactivejob").rglob("*.py")):
        text = path.read_text()
        assert not re.search(r"^\s*(from|import)\s+testbed\b", text, re.MULTILINE), path

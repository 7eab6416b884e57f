"""The generate loop as a contributor meets it: stable output, schema edits, broken edits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from codegen.emit import HEADER, Layout, render
from codegen.paths import REPO, SCHEMA_DIR
from tests.codegen_helpers import add_spec_field, copy_schema, edit_root_schema, run_codegen

CRD = "reactivejobs.batch.cs.sap.com.yaml"


def test_two_renders_give_identical_bytes_and_every_file_has_the_header(tmp_path: Path) -> None:
    first = render(SCHEMA_DIR, Layout(tmp_path))
    second = render(SCHEMA_DIR, Layout(tmp_path))
    assert first == second
    for path, text in first.items():
        if path.name != "py.typed":
            assert HEADER in text.splitlines()[0], path


def test_committed_generated_files_match_the_schema() -> None:
    result = run_codegen(SCHEMA_DIR, REPO, "--check")
    assert result.returncode == 0, result.stderr


def test_an_added_spec_field_reaches_crd_models_and_client(tmp_path: Path) -> None:
    schema = copy_schema(tmp_path)
    edit_root_schema(schema, add_spec_field)
    result = run_codegen(schema, tmp_path)
    assert result.returncode == 0, result.stderr

    crd = yaml.safe_load((tmp_path / "generated" / "reactivejob_api" / "crds" / CRD).read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["properties"]["suspendReruns"]["type"] == "boolean"
    chart_crd = tmp_path / "chart" / "reactivejob-operator" / "crds" / CRD
    assert yaml.safe_load(chart_crd.read_text()) == crd

    # The regenerated package, imported on its own: models and client both carry the field.
    probe = (
        "from reactivejob_api import ReactiveJob, ReactiveJobSpec\n"
        "from typedkube.wire import body_of\n"
        "spec = ReactiveJobSpec(job_template={}, suspend_reruns=True)\n"
        "assert 'suspend_reruns' in ReactiveJobSpec.model_fields\n"
        "print(body_of(ReactiveJob(spec=spec)))\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe],
        env={"PYTHONPATH": str(tmp_path / "generated"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "'suspendReruns': True" in shown.stdout


def test_a_broken_edit_fails_with_path_and_reason_and_writes_nothing(tmp_path: Path) -> None:
    schema = copy_schema(tmp_path)
    assert run_codegen(schema, tmp_path).returncode == 0
    before = {
        p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and "schema" not in p.parts
    }

    def dangle(document: dict[str, object]) -> None:
        spec = document["components"]["schemas"]["ReactiveJobSpec"]  # type: ignore[index]
        spec["properties"]["jobTemplate"]["$ref"] = (
            "kubernetes/batch-v1.json#/components/schemas/Nope"
        )

    edit_root_schema(schema, dangle)
    result = run_codegen(schema, tmp_path)
    assert result.returncode == 2
    assert (
        "reactivejob.yaml#/components/schemas/ReactiveJobSpec/properties/jobTemplate"
        in result.stderr
    )
    assert "dangling $ref" in result.stderr and "nothing was written" in result.stderr
    after = {
        p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and "schema" not in p.parts
    }
    assert after == before


def test_check_reports_drift(tmp_path: Path) -> None:
    schema = copy_schema(tmp_path)
    assert run_codegen(schema, tmp_path).returncode == 0
    edit_root_schema(schema, add_spec_field)
    result = run_codegen(schema, tmp_path, "--check")
    assert result.returncode == 1
    assert f"generated/reactivejob_api/crds/{CRD}" in result.stderr
    assert "generated/reactivejob_api/models.py" in result.stderr


def test_an_enum_value_and_an_annotation_added_to_the_schema_reach_the_vocabulary(
    tmp_path: Path,
) -> None:
    schema = copy_schema(tmp_path)

    def extend(document: dict[str, Any]) -> None:
        spec = document["components"]["schemas"]["ReactiveJobSpec"]["properties"]
        spec["concurrencyPolicy"]["enum"].append("Queue")
        document["x-python-vocabulary"]["annotations"]["ANNOTATION_QUEUED"] = {
            "name": "queued",
            "description": "On a Job, that it waits in a queue.",
        }

    edit_root_schema(schema, extend)
    assert run_codegen(schema, tmp_path).returncode == 0
    vocabulary = (tmp_path / "generated" / "reactivejob_api" / "vocabulary.py").read_text()
    assert '    QUEUE = "Queue"' in vocabulary.split("class ConcurrencyPolicy")[1]
    assert (
        '# On a Job, that it waits in a queue.\nANNOTATION_QUEUED = "batch.cs.sap.com/queued"'
        in (vocabulary)
    )
    crd = yaml.safe_load((tmp_path / "generated" / "reactivejob_api" / "crds" / CRD).read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["properties"]["concurrencyPolicy"]["enum"] == [
        "Allow",
        "Forbid",
        "Replace",
        "Queue",
    ]
    assert (
        "x-python-enum" not in spec["properties"]["concurrencyPolicy"]
    )  # codegen's, not the CRD's


def test_a_vocabulary_without_its_finalizer_is_a_schema_error(tmp_path: Path) -> None:
    schema = copy_schema(tmp_path)
    edit_root_schema(schema, lambda document: document["x-python-vocabulary"].pop("finalizer"))
    result = run_codegen(schema, tmp_path)
    assert result.returncode == 2
    assert "reactivejob.yaml#/x-python-vocabulary: missing: finalizer" in result.stderr

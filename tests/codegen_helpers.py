"""Running codegen on a temporary copy of the schema, as a contributor would after an edit."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from codegen.paths import REPO


def copy_schema(tmp_path: Path) -> Path:
    schema = tmp_path / "schema"
    shutil.copytree(REPO / "schema", schema)
    return schema


def edit_root_schema(schema: Path, edit: Any) -> None:
    path = schema / "reactivejob.yaml"
    document = yaml.safe_load(path.read_text())
    edit(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def run_codegen(schema: Path, root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codegen", "--schema", str(schema), "--root", str(root), *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )


def add_spec_field(document: dict[str, Any]) -> None:
    document["components"]["schemas"]["ReactiveJobSpec"]["properties"]["suspendReruns"] = {
        "description": "Do not create a new Job when the template changes.",
        "type": "boolean",
    }

"""Where the schema lives, in one place (outputs are placed by ``emit.Layout``)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCHEMA_DIR = REPO / "schema"
ROOT_SCHEMA = "reactivejob.yaml"  # inside SCHEMA_DIR; what $refs in it are relative to
KUBE_OPENAPI_DIR = SCHEMA_DIR / "kubernetes"

"""Where the schema lives and where generated files go (one place, so tests can redirect it)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCHEMA_DIR = REPO / "schema"
ROOT_SCHEMA = "reactivejob.yaml"  # inside SCHEMA_DIR; what $refs in it are relative to
KUBE_OPENAPI_DIR = SCHEMA_DIR / "kubernetes"
GENERATED_DIR = REPO / "generated"
CHART_CRD_DIR = REPO / "chart" / "reactivejob-operator" / "crds"

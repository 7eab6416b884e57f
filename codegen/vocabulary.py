"""The vocabulary the schema declares: its enums (named by ``x-python-enum``) and the
finalizer, labels, annotations and condition types of ``x-python-vocabulary``.

Emitted as ``reactivejob_api.vocabulary``, so the operator, the typed client and the kubectl
plugin spell every wire value from one place, and renaming one is a schema change.
"""

from __future__ import annotations

import re
from typing import Any

from .loader import Documents, SchemaError, location
from .paths import ROOT_SCHEMA as ROOT_FILE

Enum = tuple[str, str, list[tuple[str, str]]]  # name, description, (member, value)
Constant = tuple[str, str, str]  # name, value, description


def vocabulary(documents: Documents, group: str) -> tuple[list[Enum], list[Constant]]:
    root = documents.load(ROOT_FILE)
    words = root.get("x-python-vocabulary")
    if not isinstance(words, dict) or "finalizer" not in words:
        raise SchemaError(location(ROOT_FILE, ("x-python-vocabulary",)), "missing: finalizer")
    enums: list[Enum] = [
        (node["x-python-enum"], node.get("description", ""), _members(node["enum"]))
        for schema in root["components"]["schemas"].values()
        for node in (schema.get("properties") or {}).values()
        if "x-python-enum" in node
    ]
    types = _members(words.get("conditionTypes") or [])
    enums.append(("ConditionType", "Condition types the operator sets.", types))
    named: dict[str, Any] = {"FINALIZER": words["finalizer"]}
    named |= {**(words.get("labels") or {}), **(words.get("annotations") or {})}
    return enums, [(k, f"{group}/{v['name']}", v["description"]) for k, v in named.items()]


def _members(values: list[str]) -> list[tuple[str, str]]:
    return [(re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", v).upper(), v) for v in values]

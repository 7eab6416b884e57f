"""The vocabulary the schema declares: its enums (``x-python-enum`` names them) and the
finalizer, labels, annotations and condition types of ``x-python-vocabulary``.

Emitted as ``reactivejob_api.vocabulary``, so the operator, the typed client and the kubectl
plugin spell every wire value from one place, and renaming one is a schema change.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .loader import Documents, SchemaError, location
from .paths import ROOT_SCHEMA as ROOT_FILE


@dataclass(frozen=True)
class Constant:
    name: str
    value: str
    description: str = ""


@dataclass(frozen=True)
class Enum:
    name: str
    description: str
    members: tuple[Constant, ...]


def enums(documents: Documents) -> list[Enum]:
    """Every ``x-python-enum`` of the root schema's own components, in schema order."""
    root = documents.load(ROOT_FILE)
    found = [
        Enum(node["x-python-enum"], node.get("description", ""), members(node["enum"]))
        for node in _nodes(root["components"]["schemas"])
        if "x-python-enum" in node
    ]
    vocabulary = _vocabulary(root)
    types = vocabulary.get("conditionTypes") or []
    found.append(Enum("ConditionType", "Condition types the operator sets.", members(types)))
    return found


def constants(documents: Documents, group: str) -> list[Constant]:
    """The finalizer, labels and annotations, each a name under the API group."""
    vocabulary = _vocabulary(documents.load(ROOT_FILE))
    finalizer = vocabulary["finalizer"]
    found = [Constant("FINALIZER", f"{group}/{finalizer['name']}", finalizer["description"])]
    for section in ("labels", "annotations"):
        for name, entry in (vocabulary.get(section) or {}).items():
            found.append(Constant(name, f"{group}/{entry['name']}", entry["description"]))
    return found


def members(values: list[str]) -> tuple[Constant, ...]:
    return tuple(Constant(_upper_snake(v), v) for v in values)


def _vocabulary(root: dict[str, Any]) -> dict[str, Any]:
    vocabulary = root.get("x-python-vocabulary")
    if not isinstance(vocabulary, dict) or "finalizer" not in vocabulary:
        raise SchemaError(location(ROOT_FILE, ("x-python-vocabulary",)), "missing: finalizer")
    return vocabulary


def _nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for item in node:
            yield from _nodes(item)


def _upper_snake(value: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", value).upper()

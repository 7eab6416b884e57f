"""Loading the schema documents and following ``$ref`` across them, with errors that name the path.

A schema error always says which file and which JSON path is wrong, and why, so that a
contributor who breaks ``schema/`` is told where to look, and nothing is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Schema = dict[str, Any]


class SchemaError(ValueError):
    """A broken schema: ``location`` is ``file#/json/path``; ``reason`` says what is wrong."""

    def __init__(self, location: str, reason: str) -> None:
        super().__init__(f"{location}: {reason}")
        self.location = location
        self.reason = reason


@dataclass
class Documents:
    """Every document reachable from the root schema, keyed by path relative to ``base``."""

    base: Path
    loaded: dict[str, Any] = field(default_factory=dict)

    def load(self, relative: str) -> Any:
        if relative not in self.loaded:
            path = self.base / relative
            if not path.is_file():
                raise SchemaError(relative, "file not found")
            text = path.read_text()
            try:
                self.loaded[relative] = (
                    json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
                )
            except (json.JSONDecodeError, yaml.YAMLError) as error:
                raise SchemaError(
                    relative, f"not valid {path.suffix[1:].upper()}: {error}"
                ) from error
        return self.loaded[relative]

    def resolve(self, ref: str, origin: str) -> tuple[str, str, Schema]:
        """``(file, pointer, schema)`` for a ``$ref`` found in ``origin`` (a ``file#/path``)."""
        file_part, _, pointer = ref.partition("#")
        file = file_part or origin.partition("#")[0]
        node: Any = self.load(file)
        for raw in [t for t in pointer.split("/") if t]:
            token = raw.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or token not in node:
                raise SchemaError(origin, f"dangling $ref {ref!r}: {token!r} not found in {file}")
            node = node[token]
        if not isinstance(node, dict):
            raise SchemaError(origin, f"$ref {ref!r} does not point at a schema object")
        return file, pointer, node


def location(file: str, path: tuple[str, ...]) -> str:
    return f"{file}#/" + "/".join(path)

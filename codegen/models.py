"""Pydantic v2 models through datamodel-code-generator's Python API.

The generator gets an OpenAPI document prepared for round-trip fidelity rather than validation:
- Kubernetes type names (``Container``, ``PodSpec``...) instead of ``io.k8s.api.core.v1.*``;
- IntOrString and Quantity as ``int | str``, times as plain strings: a parsed object must dump
  back to exactly the input, so nothing is converted to datetime or Decimal;
- no enums and no defaults: a newer server's values pass through, and unset stays unset;
- extension keys removed (the generator has no use for them).
Every model allows extra fields, so fields a newer server adds survive a read-modify-write.
"""

from __future__ import annotations

import copy
from typing import Any

from .loader import Documents, Schema, SchemaError
from .paths import ROOT_SCHEMA as ROOT_FILE
from .structural import INT_OR_STRING, MICRO_TIME, QUANTITY, TIME

_DROPPED_KEYS = {"default", "enum", "readOnly", "format"}
_AS_INT_OR_STRING = {INT_OR_STRING, QUANTITY}
_AS_STRING = {TIME, MICRO_TIME}


def short_name(full: str) -> str:
    return full.rsplit(".", 1)[-1]


def model_document(documents: Documents) -> Schema:
    """One self-contained OpenAPI document: our schemas plus every Kubernetes type they use."""
    root = documents.load(ROOT_FILE)
    schemas: dict[str, Schema] = {}
    pending: list[tuple[str, str]] = [
        (ROOT_FILE, f"/components/schemas/{name}") for name in root["components"]["schemas"]
    ]
    for extra in root.get("x-python-clients", []):
        for ref in extra.get("schemas", []):
            file, _, pointer = ref.partition("#")
            pending.append((file, pointer))
    origins: dict[str, str] = {}
    while pending:
        file, pointer = pending.pop()
        name = short_name(pointer.rsplit("/", 1)[-1])
        key = f"{file}#{pointer}"
        if name in schemas:
            # The same upstream type reached through two documents of one release is one type.
            if origins[name].partition("#")[2] != pointer:
                raise SchemaError(
                    key, f"two schemas would both be named {name!r} ({origins[name]})"
                )
            continue
        _, _, target = documents.resolve(key, key)
        origins[name] = key
        schemas[name] = _rewrite(target, file, pending)
    return {
        "openapi": "3.0.3",
        "info": {"title": "ReactiveJob models", "version": root["info"]["version"]},
        "paths": {},
        "components": {"schemas": dict(sorted(schemas.items()))},
    }


def _rewrite(node: Any, file: str, pending: list[tuple[str, str]]) -> Any:
    if isinstance(node, list):
        return [_rewrite(item, file, pending) for item in node]
    if not isinstance(node, dict):
        return copy.deepcopy(node)
    if "allOf" in node and len(node["allOf"]) == 1 and "$ref" in node["allOf"][0]:
        node = {**{k: v for k, v in node.items() if k != "allOf"}, **node["allOf"][0]}
    if "$ref" in node:
        ref_file, _, pointer = node["$ref"].partition("#")
        target_file = ref_file or file
        full = pointer.rsplit("/", 1)[-1]
        description = {"description": node["description"]} if "description" in node else {}
        if full in _AS_INT_OR_STRING:
            return {"anyOf": [{"type": "integer"}, {"type": "string"}], **description}
        if full in _AS_STRING:
            return {"type": "string", **description}
        pending.append((target_file, pointer))
        return {"$ref": f"#/components/schemas/{short_name(full)}", **description}
    return {
        key: _rewrite(value, file, pending) if key != "required" else list(value)
        for key, value in node.items()
        if key not in _DROPPED_KEYS and not key.startswith("x-")
    }


def generate_models(documents: Documents, header: str) -> str:
    # Imported here: datamodel-code-generator is a dev dependency, needed only to generate.
    from datamodel_code_generator import generate  # noqa: PLC0415
    from datamodel_code_generator.enums import DataModelType, InputFileType  # noqa: PLC0415
    from datamodel_code_generator.format import Formatter, PythonVersion  # noqa: PLC0415

    document = model_document(documents)
    output = generate(
        document,
        input_file_type=InputFileType.OpenAPI,
        output_model_type=DataModelType.PydanticV2BaseModel,
        target_python_version=PythonVersion.PY_311,
        snake_case_field=True,
        allow_population_by_field_name=True,
        extra_fields="allow",
        use_schema_description=True,
        use_standard_collections=True,
        use_union_operator=True,
        disable_timestamp=True,
        # Constraints (minimum, maxItems) as Field(...) arguments, not conint(): mypy --strict
        # accepts no call in a type annotation.
        field_constraints=True,
        custom_file_header=header,
        formatters=[Formatter.RUFF_FORMAT],
    )
    if not isinstance(output, str):
        raise SchemaError(ROOT_FILE, "datamodel-code-generator produced several modules")
    return output

"""Each CRD rewrite rule, shown on a small input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from codegen.loader import Documents, SchemaError
from codegen.structural import (
    INT_OR_STRING,
    OBJECT_META,
    QUANTITY,
    QUANTITY_PATTERN,
    TIME,
    Converter,
)

UPSTREAM = "kube.json"


def convert(tmp_path: Path, root: dict[str, Any], upstream: dict[str, Any] | None = None) -> Any:
    """Convert ``root`` (the schema ``Root`` in main.json) with ``upstream`` types beside it."""
    (tmp_path / "main.json").write_text(json.dumps({"components": {"schemas": {"Root": root}}}))
    (tmp_path / UPSTREAM).write_text(json.dumps({"components": {"schemas": upstream or {}}}))
    return Converter(Documents(tmp_path), "main.json").convert_root(
        "main.json", "/components/schemas/Root"
    )


def ref(name: str) -> str:
    return f"{UPSTREAM}#/components/schemas/{name}"


def obj(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


def test_refs_are_inlined_and_the_fields_own_description_wins(tmp_path: Path) -> None:
    upstream = {
        "T": {"description": "the type", "type": "object", "properties": {"a": {"type": "string"}}}
    }
    result = convert(
        tmp_path, obj(x={"allOf": [{"$ref": ref("T")}], "description": "the field"}), upstream
    )
    assert result["properties"]["x"] == {
        "description": "the field",
        "type": "object",
        "properties": {"a": {"type": "string"}},
    }
    assert "$ref" not in json.dumps(result) and "allOf" not in json.dumps(result)


def test_type_description_is_used_when_the_field_has_none(tmp_path: Path) -> None:
    upstream = {"T": {"description": "the type", "type": "string"}}
    result = convert(tmp_path, obj(x={"$ref": ref("T")}), upstream)
    assert result["properties"]["x"] == {"description": "the type", "type": "string"}


def test_int_or_string_and_quantity(tmp_path: Path) -> None:
    upstream = {
        INT_OR_STRING: {
            "format": "int-or-string",
            "oneOf": [{"type": "integer"}, {"type": "string"}],
        },
        QUANTITY: {"type": "string", "description": "q"},
    }
    result = convert(
        tmp_path, obj(port={"$ref": ref(INT_OR_STRING)}, cpu={"$ref": ref(QUANTITY)}), upstream
    )
    port, cpu = result["properties"]["port"], result["properties"]["cpu"]
    assert port == {
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "x-kubernetes-int-or-string": True,
    }
    assert cpu["pattern"] == QUANTITY_PATTERN and cpu["x-kubernetes-int-or-string"] is True
    assert "type" not in port and "type" not in cpu


def test_time_is_a_date_time_string(tmp_path: Path) -> None:
    result = convert(
        tmp_path, obj(at={"$ref": ref(TIME)}), {TIME: {"type": "string", "format": "date-time"}}
    )
    assert result["properties"]["at"] == {"type": "string", "format": "date-time"}


def test_list_and_map_extensions_kept_patch_union_gvk_dropped(tmp_path: Path) -> None:
    field = {
        "type": "array",
        "items": {"type": "string"},
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
        "x-kubernetes-patch-strategy": "merge",
        "x-kubernetes-patch-merge-key": "name",
    }
    root = {
        **obj(f=field, m={"type": "object", "x-kubernetes-map-type": "atomic"}),
        "x-kubernetes-unions": [{"discriminator": "t"}],
        "x-kubernetes-group-version-kind": [{"group": "", "kind": "X", "version": "v1"}],
    }
    result = convert(tmp_path, root)
    assert result["properties"]["f"] == {
        "type": "array",
        "items": {"type": "string"},
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
    }
    assert result["properties"]["m"]["x-kubernetes-map-type"] == "atomic"
    assert "x-kubernetes-unions" not in result and "x-kubernetes-group-version-kind" not in result


def test_empty_object_defaults_are_dropped_everywhere(tmp_path: Path) -> None:
    result = convert(tmp_path, obj(x={"type": "object", "default": {}}))
    assert "default" not in result["properties"]["x"]


@pytest.mark.parametrize("zero", ["", 0, False])
def test_zero_defaults_of_required_properties_and_items_are_dropped(
    tmp_path: Path, zero: Any
) -> None:
    field = {"type": "string", "default": zero}
    root = {**obj(x=field, xs={"type": "array", "items": field}), "required": ["x"]}
    result = convert(tmp_path, root)
    assert "default" not in result["properties"]["x"]
    assert "default" not in result["properties"]["xs"]["items"]


def test_zero_defaults_of_optional_properties_are_markers_and_kept(tmp_path: Path) -> None:
    # e.g. LocalObjectReference.name: +default="" (a list-map key needs it, or the CRD is invalid)
    result = convert(tmp_path, obj(name={"type": "string", "default": ""}))
    assert result["properties"]["name"]["default"] == ""


def test_meaningful_defaults_are_kept(tmp_path: Path) -> None:
    result = convert(
        tmp_path, obj(x={"type": "string", "default": "TCP"}, n={"type": "integer", "default": -1})
    )
    assert result["properties"]["x"]["default"] == "TCP"
    assert result["properties"]["n"]["default"] == -1


def test_required_is_sorted(tmp_path: Path) -> None:
    result = convert(
        tmp_path, {**obj(b={"type": "string"}, a={"type": "string"}), "required": ["b", "a"]}
    )
    assert result["required"] == ["a", "b"]


def test_embedded_object_meta_is_reduced_and_root_metadata_is_just_an_object(
    tmp_path: Path,
) -> None:
    upstream = {
        OBJECT_META: obj(name={"type": "string"}, uid={"type": "string"}, labels={"type": "object"})
    }
    template = obj(metadata={"$ref": ref(OBJECT_META), "description": "template metadata"})
    result = convert(
        tmp_path, obj(metadata={"$ref": ref(OBJECT_META)}, template=template), upstream
    )
    assert result["properties"]["metadata"] == {"type": "object"}
    embedded = result["properties"]["template"]["properties"]["metadata"]
    assert sorted(embedded["properties"]) == [
        "annotations",
        "finalizers",
        "labels",
        "name",
        "namespace",
    ]
    assert embedded["description"] == "template metadata"


@pytest.mark.parametrize(
    ("root", "reason"),
    [
        (obj(x={"$ref": ref("Missing")}), "dangling $ref"),
        (obj(x={"oneOf": [{"type": "string"}, {"type": "integer"}]}), "oneOf is not structural"),
        (obj(x={"type": "strng"}), "bad type 'strng'"),
        (obj(x={"description": "no type"}), "no type"),
        (obj(x={"type": "array"}), "an array needs items"),
        ({**obj(a={"type": "string"}), "required": ["b"]}, "required names unknown properties: b"),
        (obj(x={"type": "string", "maxLenght": 3}), "unsupported schema keyword(s): maxLenght"),
    ],
)
def test_broken_schemas_name_the_path_and_the_reason(
    tmp_path: Path, root: dict[str, Any], reason: str
) -> None:
    with pytest.raises(SchemaError) as error:
        convert(tmp_path, root)
    assert reason in error.value.reason
    assert error.value.location.startswith("main.json#/components/schemas/Root")


def test_recursive_refs_are_rejected(tmp_path: Path) -> None:
    upstream = {"Node": obj(child={"$ref": ref("Node")})}
    with pytest.raises(SchemaError) as error:
        convert(tmp_path, obj(tree={"$ref": ref("Node")}), upstream)
    assert "recursive" in error.value.reason


def test_upstream_enums_and_their_description_suffix_are_dropped_own_enums_kept(
    tmp_path: Path,
) -> None:
    upstream = {
        "P": {
            "type": "string",
            "enum": ["Always", "Never"],
            "description": 'policy\n\nPossible enum values:\n - `"Always"` a\n - `"Never"` b',
        }
    }
    root = obj(policy={"$ref": ref("P")}, state={"type": "string", "enum": ["New", "Ready"]})
    result = convert(tmp_path, root, upstream)
    assert result["properties"]["policy"] == {"type": "string", "description": "policy"}
    assert result["properties"]["state"]["enum"] == ["New", "Ready"]


def test_go_source_facts_the_openapi_lacks(tmp_path: Path) -> None:
    core = "io.k8s.api.core.v1"
    upstream = {
        f"{core}.ConfigMapEnvSource": obj(name={"type": "string", "default": ""}),
        f"{core}.AzureDiskVolumeSource": obj(
            cachingMode={"type": "string", "default": "ReadWrite"}
        ),
        f"{core}.Capabilities": obj(add={"type": "array", "items": {"type": "string"}}),
    }
    root = obj(
        env={"$ref": ref(f"{core}.ConfigMapEnvSource")},
        disk={"$ref": ref(f"{core}.AzureDiskVolumeSource")},
        caps={"$ref": ref(f"{core}.Capabilities")},
    )
    result = convert(tmp_path, root, upstream)["properties"]
    assert result["env"]["x-kubernetes-map-type"] == "atomic"  # embeds atomic LocalObjectReference
    assert result["env"]["properties"]["name"]["default"] == ""  # a +default marker: kept
    assert "default" not in result["disk"]["properties"]["cachingMode"]  # +default=ref(...)
    assert result["caps"]["properties"]["add"]["items"]["description"] == (
        "Capability represent POSIX capabilities type"
    )


def test_map_value_defaults_are_dropped(tmp_path: Path) -> None:
    field = {"type": "object", "additionalProperties": {"type": "string", "default": ""}}
    result = convert(tmp_path, obj(labels=field))
    assert result["properties"]["labels"]["additionalProperties"] == {"type": "string"}


def test_properties_next_to_a_ref_extend_the_type_for_that_use(tmp_path: Path) -> None:
    upstream = {"T": obj(meta=obj(name={"type": "string"}))}
    rule = {"rule": "!has(self.extra)", "message": "no extra"}
    use = {
        "$ref": ref("T"),
        "properties": {"meta": {"properties": {"extra": {"type": "string"}}}},
        "x-kubernetes-validations": [rule],
    }
    result = convert(tmp_path, obj(field=use), upstream)["properties"]["field"]
    assert sorted(result["properties"]["meta"]["properties"]) == ["extra", "name"]
    assert result["x-kubernetes-validations"] == [rule]
    with pytest.raises(SchemaError) as error:
        convert(tmp_path, obj(field={"$ref": ref("T"), "properties": {"new": {}}}), upstream)
    assert error.value.location.endswith("/properties/field/properties/new")

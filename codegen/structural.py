"""OpenAPI -> structural CRD schema: the rewrite rules that make our CRD match controller-gen's.

Each rule is a small function so a unit test can show it on a small input:
- every ``$ref`` is inlined, and an ``allOf: [{$ref}]`` wrapper unwrapped; the field's own
  description wins over the type's;
- IntOrString and Quantity become ``anyOf: [integer, string]`` + ``x-kubernetes-int-or-string``;
  Quantity keeps its regex ``pattern``; metav1.Time is a ``date-time`` string;
- list/map extensions are kept; patch-strategy, union and group-version-kind extensions are
  dropped (the server drops them and GitOps tools would show an endless diff);
- upstream enums (Go ``+enum``) are dropped with their "Possible enum values" text: they are
  documentation to controller-gen, and a newer kubelet may accept values an older CRD lists not;
- implicit zero-value defaults are dropped: ``default: {}`` everywhere, and ``""``/``0``/``false``
  on required properties, array items and map values, where openapi-gen adds them for non-pointer Go
  fields. On optional properties they come from explicit ``+default`` markers and are kept
  (the server needs e.g. ``default: ""`` on list-map keys); ``required`` lists are sorted;
- embedded ObjectMeta keeps annotations, finalizers, labels, name, namespace; the root
  ``metadata`` is just ``type: object`` (the server owns its schema).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from . import kube_facts
from .loader import Documents, Schema, SchemaError, location

INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
TIME = "io.k8s.apimachinery.pkg.apis.meta.v1.Time"
MICRO_TIME = "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?"
    r"(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)

TYPES = {"object", "array", "string", "integer", "number", "boolean"}
# Keys copied as they are (after their values are converted where they hold schemas).
KEPT = {
    "description", "type", "format", "pattern", "enum", "maximum", "minimum",
    "exclusiveMaximum", "exclusiveMinimum", "maxLength", "minLength", "maxItems",
    "minItems", "uniqueItems", "maxProperties", "minProperties", "multipleOf", "nullable",
    "x-kubernetes-list-type", "x-kubernetes-list-map-keys", "x-kubernetes-map-type",
    "x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource",
    "x-kubernetes-int-or-string", "x-kubernetes-validations",
}  # fmt: skip
# Keys a CRD cannot use or the server would drop; silently left out.
DROPPED = {
    "x-kubernetes-patch-strategy", "x-kubernetes-patch-merge-key", "x-kubernetes-unions",
    "x-kubernetes-group-version-kind", "readOnly", "example", "externalDocs", "title",
    "x-python-enum",  # names the enum in reactivejob_api.vocabulary
}  # fmt: skip
SCHEMA_VALUED = {"properties", "items", "additionalProperties", "allOf", "anyOf", "oneOf", "not"}


def is_zero(value: Any) -> bool:
    zeros: tuple[Any, ...] = ({}, [], "", 0, False)
    return any(value == zero and type(value) is type(zero) for zero in zeros)


def drop_empty_object_default(schema: Schema) -> Schema:
    """``default: {}`` is openapi-gen's mark of a non-pointer struct, never a real default."""
    if schema.get("default") == {}:
        schema = {k: v for k, v in schema.items() if k != "default"}
    return schema


def drop_zero_default(schema: Schema) -> Schema:
    """For required properties and array items: a zero default is openapi-gen's, not a marker's."""
    if "default" in schema and is_zero(schema["default"]):
        schema = {k: v for k, v in schema.items() if k != "default"}
    return schema


def sort_required(schema: Schema) -> Schema:
    if "required" in schema:
        schema = {**schema, "required": sorted(schema["required"])}
    return schema


def int_or_string(pattern: str | None = None) -> Schema:
    """The type's own (long) description is left out, as controller-gen does; a field's stays."""
    schema: Schema = {
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "x-kubernetes-int-or-string": True,
    }
    if pattern:
        schema["pattern"] = pattern
    return schema


def embedded_object_meta() -> Schema:
    """ObjectMeta inside a template, exactly as controller-gen's generateEmbeddedObjectMeta
    emits it: the fields a template may set, without descriptions or list extensions."""
    string_map = {"additionalProperties": {"type": "string"}, "type": "object"}
    return {
        "type": "object",
        "properties": {
            "annotations": dict(string_map),
            "finalizers": {"items": {"type": "string"}, "type": "array"},
            "labels": dict(string_map),
            "name": {"type": "string"},
            "namespace": {"type": "string"},
        },
    }


class Converter:
    """Walks one root schema, inlining references and applying the rules above."""

    def __init__(self, documents: Documents, own_file: str) -> None:
        self.documents = documents
        self.own_file = own_file

    def convert_root(self, file: str, pointer: str) -> Schema:
        _, _, root = self.documents.resolve(f"{file}#{pointer}", f"{file}#")
        path = tuple(t for t in pointer.split("/") if t)
        result = self.convert(root, file, path, stack=(), root=True)
        properties = result.get("properties", {})
        if "metadata" in properties:
            # The API server owns ObjectMeta's schema; controller-gen emits just the type.
            properties["metadata"] = {"type": "object"}
        return result

    def convert(
        self,
        node: Any,
        file: str,
        path: tuple[str, ...],
        stack: tuple[str, ...],
        root: bool = False,
    ) -> Schema:
        here = location(file, path)
        if not isinstance(node, dict):
            raise SchemaError(here, f"a schema must be an object, found {type(node).__name__}")
        if "$ref" in node:
            return self._reference(node, file, path, stack)
        if "allOf" in node:
            return self._all_of(node, file, path, stack)
        for combinator in ("oneOf", "anyOf", "not"):
            if combinator in node and not node.get("x-kubernetes-int-or-string"):
                raise SchemaError(
                    here,
                    f"{combinator} is not structural in a CRD schema; use one type, or "
                    "x-kubernetes-int-or-string for int-or-string fields",
                )
        unknown = set(node) - KEPT - DROPPED - SCHEMA_VALUED - {"required", "default", "$ref"}
        if unknown:
            raise SchemaError(here, f"unsupported schema keyword(s): {', '.join(sorted(unknown))}")
        kind = node.get("type")
        if kind is not None and kind not in TYPES:
            raise SchemaError(here, f"bad type {kind!r}; one of {', '.join(sorted(TYPES))}")
        if kind is None and not (
            node.get("x-kubernetes-int-or-string")
            or node.get("x-kubernetes-preserve-unknown-fields")
        ):
            raise SchemaError(
                here, "no type: a structural schema needs a type on every node (or "
                "x-kubernetes-preserve-unknown-fields / x-kubernetes-int-or-string)"
            )  # fmt: skip
        result: Schema = {k: copy.deepcopy(v) for k, v in node.items() if k in KEPT}
        if file != self.own_file:
            result.pop("enum", None)
            if "description" in result:
                result["description"] = kube_facts.strip_enum_suffix(result["description"])
        if "properties" in node:
            if kind != "object":
                raise SchemaError(here, "properties given on a non-object type")
            required = set(node.get("required", ()))
            result["properties"] = {
                name: self._required_or_not(
                    self.convert(child, file, (*path, "properties", name), stack), name in required
                )
                for name, child in node["properties"].items()
            }
        if "items" in node:
            if kind != "array":
                raise SchemaError(here, "items given on a non-array type")
            items = drop_zero_default(self.convert(node["items"], file, (*path, "items"), stack))
            described = kube_facts.ITEM_DESCRIPTIONS.get(_property_of(path))
            if described and "description" not in items:
                items = {"description": described, **items}
            result["items"] = items
        elif kind == "array":
            raise SchemaError(here, "an array needs items")
        additional = node.get("additionalProperties")
        if isinstance(additional, dict):
            result["additionalProperties"] = drop_zero_default(
                self.convert(additional, file, (*path, "additionalProperties"), stack)
            )
        if "required" in node:
            missing = [name for name in node["required"] if name not in node.get("properties", {})]
            if missing:
                raise SchemaError(here, f"required names unknown properties: {', '.join(missing)}")
            result["required"] = list(node["required"])
        if "default" in node:
            result["default"] = copy.deepcopy(node["default"])
        type_name = _type_name(path)
        for name in kube_facts.DEFAULTS_NOT_IN_CRD.get(type_name, ()):
            result.get("properties", {}).get(name, {}).pop("default", None)
        if type_name in kube_facts.ATOMIC_BY_EMBEDDING:
            result.setdefault("x-kubernetes-map-type", "atomic")
        return sort_required(drop_empty_object_default(result))

    @staticmethod
    def _required_or_not(schema: Schema, required: bool) -> Schema:
        return drop_zero_default(schema) if required else schema

    def _reference(
        self, node: Schema, file: str, path: tuple[str, ...], stack: tuple[str, ...]
    ) -> Schema:
        here = location(file, path)
        ref = node["$ref"]
        target_file, pointer, target = self.documents.resolve(ref, here)
        name = pointer.rsplit("/", 1)[-1]
        key = f"{target_file}#{pointer}"
        if key in stack:
            raise SchemaError(here, f"recursive $ref {ref!r}: a CRD schema cannot be recursive")
        special = self._special(name, target, node)
        if special is not None:
            converted = special
        else:
            converted = self.convert(
                target, target_file, tuple(pointer.split("/")[1:]), (*stack, key)
            )
        # Keys next to $ref (description, default...) describe this use of the type and win.
        own = {k: v for k, v in node.items() if k != "$ref"}
        if own:
            converted = self._overlay(converted, own, file, path, stack)
        return converted

    def _all_of(
        self, node: Schema, file: str, path: tuple[str, ...], stack: tuple[str, ...]
    ) -> Schema:
        parts = node["allOf"]
        if not (isinstance(parts, list) and len(parts) == 1 and set(parts[0]) == {"$ref"}):
            raise SchemaError(
                location(file, path),
                "allOf is only supported as a single-$ref wrapper (allOf: [{$ref: ...}])",
            )
        own = {k: v for k, v in node.items() if k != "allOf"}
        return self._reference({**parts[0], **own}, file, path, stack)

    def _overlay(
        self,
        converted: Schema,
        own: Schema,
        file: str,
        path: tuple[str, ...],
        stack: tuple[str, ...],
    ) -> Schema:
        merged = dict(converted)
        for key, value in own.items():
            if key in DROPPED:
                continue
            if key == "properties":
                merged["properties"] = self._extend(
                    converted, value, file, (*path, "properties"), stack
                )
                continue
            if key not in KEPT | {"default"}:
                raise SchemaError(location(file, path), f"unsupported keyword {key!r} next to $ref")
            merged[key] = copy.deepcopy(value)
        return sort_required(drop_empty_object_default(merged))

    def _extend(
        self,
        converted: Schema,
        extra: Any,
        file: str,
        path: tuple[str, ...],
        stack: tuple[str, ...],
    ) -> Schema:
        """``properties`` next to a ``$ref`` extend the referenced type for this one use: a
        property the type has is refined (its nested ``properties``, rules, description); a new
        one is added, and must then be a complete schema."""
        if not isinstance(extra, dict):
            raise SchemaError(location(file, path), "properties must be an object")
        properties = dict(converted.get("properties", {}))
        for name, child in extra.items():
            here = (*path, name)
            if name in properties:
                properties[name] = self._overlay(properties[name], child, file, here, stack)
            else:
                properties[name] = self.convert(child, file, here, stack)
        return properties

    def _special(self, name: str, target: Schema, use: Schema) -> Schema | None:
        rewrites: dict[str, Callable[[], Schema]] = {
            INT_OR_STRING: int_or_string,
            QUANTITY: lambda: int_or_string(QUANTITY_PATTERN),
            TIME: lambda: _described({"type": "string", "format": "date-time"}, target),
            MICRO_TIME: lambda: _described({"type": "string", "format": "date-time"}, target),
            OBJECT_META: embedded_object_meta,
        }
        rewrite = rewrites.get(name)
        return rewrite() if rewrite else None


def _type_name(path: tuple[str, ...]) -> str:
    """The type whose top-level schema ``path`` is (``components/schemas/<name>``), else ""."""
    if len(path) == 3 and path[:2] == ("components", "schemas"):
        return path[2]
    return ""


def _property_of(path: tuple[str, ...]) -> tuple[str, str]:
    """``(type, property)`` for ``components/schemas/<type>/properties/<property>``."""
    if len(path) == 5 and path[:2] == ("components", "schemas") and path[3] == "properties":
        return path[2], path[4]
    return "", ""


def _described(schema: Schema, target: Schema) -> Schema:
    if "description" in target:
        return {**schema, "description": target["description"]}
    return schema

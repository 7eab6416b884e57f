"""The CustomResourceDefinition, built from the schema's ``x-kubernetes-crd`` section."""

from __future__ import annotations

from typing import Any

import yaml

from .loader import Documents, Schema, SchemaError
from .paths import ROOT_SCHEMA as ROOT_FILE
from .structural import Converter


def crd_settings(documents: Documents) -> Schema:
    root = documents.load(ROOT_FILE)
    settings = root.get("x-kubernetes-crd") if isinstance(root, dict) else None
    if not isinstance(settings, dict):
        raise SchemaError(f"{ROOT_FILE}#/x-kubernetes-crd", "missing: group, names, versions")
    for key in ("group", "scope", "names", "versions"):
        if key not in settings:
            raise SchemaError(f"{ROOT_FILE}#/x-kubernetes-crd/{key}", "missing")
    return settings


def build_crd(documents: Documents) -> Schema:
    settings = crd_settings(documents)
    converter = Converter(documents, own_file=ROOT_FILE)
    versions = []
    for version in settings["versions"]:
        pointer = version["schema"].partition("#")[2]
        schema = converter.convert_root(ROOT_FILE, pointer)
        entry: dict[str, Any] = {k: v for k, v in version.items() if k not in ("schema",)}
        entry["schema"] = {"openAPIV3Schema": schema}
        versions.append(dict(sorted(entry.items())))
    names = settings["names"]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{names['plural']}.{settings['group']}"},
        "spec": {
            "group": settings["group"],
            "names": names,
            "scope": settings["scope"],
            "versions": versions,
        },
    }


class _Dumper(yaml.SafeDumper):
    """Block style, literal blocks for multi-line strings: the layout controller-gen uses."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _string)


def dump_yaml(document: Any) -> str:
    return yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=100000,
        indent=2,
    )

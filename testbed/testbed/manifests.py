"""Server-side apply of manifests, and installing CRDs until they are served.

Server-side apply, because the ReactiveJob CRD (~700 KB) is over the 256 KiB annotation limit
that client-side apply's last-applied copy runs into.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

FIELD_MANAGER = "reactivejob-controlplane"
# libyaml's safe loader when PyYAML has it: Kueue's Workload CRD (1.4 MB) parses in 0.15 s
# instead of 2 s.
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.load_all(path.read_text(), Loader=_SAFE_LOADER) if doc]


def server_side_apply(
    api: client.ApiClient, manifest: Mapping[str, Any], field_manager: str = FIELD_MANAGER
) -> Any:
    resource = DynamicClient(api).resources.get(  # type: ignore[no-untyped-call]
        api_version=manifest["apiVersion"], kind=manifest["kind"]
    )
    namespace = manifest.get("metadata", {}).get("namespace")
    return resource.server_side_apply(
        body=dict(manifest),
        name=manifest["metadata"]["name"],
        namespace=namespace,
        field_manager=field_manager,
        force_conflicts=True,
    )


def install_crds(api: client.ApiClient, paths: Iterable[Path], timeout: float = 30.0) -> list[str]:
    """Apply every CRD in ``paths`` and wait until each is Established (served)."""
    documents = [document for path in paths for document in load_documents(path)]
    return install_crd_documents(api, documents, timeout)


def install_crd_documents(
    api: client.ApiClient, documents: Iterable[Mapping[str, Any]], timeout: float = 30.0
) -> list[str]:
    """Apply every CRD of ``documents`` and wait until each is Established (served)."""
    names: list[str] = []
    for document in documents:
        server_side_apply(api, document)
        names.append(document["metadata"]["name"])
    extensions = client.ApiextensionsV1Api(api)
    objects = client.CustomObjectsApi(api)
    deadline = time.monotonic() + timeout
    for name in names:
        crd = extensions.read_custom_resource_definition(name)
        while not _established(crd):
            _wait(deadline, f"CRD {name} was not Established within {timeout:.0f}s")
            crd = extensions.read_custom_resource_definition(name)
        # Established is not yet served: for a moment lists answer 429 "storage is
        # (re)initializing". Callers (watches above all) should not have to know that.
        version = next(v.name for v in crd.spec.versions if v.served)
        while True:
            try:
                objects.list_cluster_custom_object(
                    crd.spec.group, version, crd.spec.names.plural, limit=1
                )
                break
            except ApiException as error:
                if error.status != 429:
                    raise
                _wait(deadline, f"CRD {name} was not served within {timeout:.0f}s")
    return names


def _wait(deadline: float, message: str) -> None:
    if time.monotonic() > deadline:
        raise TimeoutError(message)
    time.sleep(0.1)


def _established(crd: client.V1CustomResourceDefinition) -> bool:
    conditions = (crd.status and crd.status.conditions) or []
    return any(c.type == "Established" and c.status == "True" for c in conditions)

"""``make update-kube-openapi``: refresh the pinned upstream OpenAPI from the control plane.

The schema's Kubernetes types must come from the same release the tests run against, or fields
drift; so the copy is taken from the pinned kube-apiserver itself, not from the internet.
"""

from __future__ import annotations

import json
import sys
import urllib.request

from testbed import ControlPlane, kubernetes_version

from .paths import KUBE_OPENAPI_DIR

# The group-version documents the schema references: batch/v1 for JobTemplateSpec (and Jobs),
# events.k8s.io/v1 for the Events the operator posts, coordination.k8s.io/v1 for its Lease,
# and the core api/v1 for the ConfigMaps and Secrets that config triggers watch.
DOCUMENTS = {
    "api/v1": "core-v1.json",
    "apis/batch/v1": "batch-v1.json",
    "apis/events.k8s.io/v1": "events-v1.json",
    "apis/coordination.k8s.io/v1": "coordination-v1.json",
}


def fetch(control_plane: ControlPlane, document: str) -> dict[str, object]:
    url = f"{control_plane.server}/openapi/v3/{document}"
    with urllib.request.urlopen(
        url, context=control_plane.admin_ssl_context(), timeout=30
    ) as response:
        loaded: dict[str, object] = json.load(response)
        return loaded


def main() -> int:
    KUBE_OPENAPI_DIR.mkdir(parents=True, exist_ok=True)
    with ControlPlane(controllers=()) as control_plane:
        for document, filename in DOCUMENTS.items():
            content = fetch(control_plane, document)
            (KUBE_OPENAPI_DIR / filename).write_text(
                json.dumps(content, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
            )
            print(f"wrote {KUBE_OPENAPI_DIR / filename}")
    version = kubernetes_version()
    (KUBE_OPENAPI_DIR / "VERSION").write_text(version + "\n")
    print(f"recorded Kubernetes {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

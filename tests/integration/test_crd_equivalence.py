"""Our generated CRD equals the Go operator's controller-gen CRD for the same Kubernetes release.

tests/crd_reference holds a Go rendering of the API and pins controller-gen and k8s.io/api to
the release in schema/kubernetes/VERSION; controller-gen is built once and cached. Only
description whitespace may differ: controller-gen keeps Go comment line breaks, the OpenAPI
we generate from has them joined.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from codegen.paths import KUBE_OPENAPI_DIR, REPO

REFERENCE = REPO / "tests" / "crd_reference"
RUN_CONTROL_SPEC = (
    "concurrencyPolicy",
    "suspend",
    "successfulJobsHistoryLimit",
    "failedJobsHistoryLimit",
    "rerunOnConfigChange",
    "failureLog",
)
RUN_CONTROL_STATUS = ("lastHandledRerun", "history")
OURS = REPO / "generated" / "reactivejob_api" / "crds" / "reactivejobs.batch.cs.sap.com.yaml"


def normalized(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: " ".join(value.split()) if key == "description" else normalized(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [normalized(item) for item in node]
    return node


def test_reference_pins_the_same_kubernetes_release() -> None:
    kube = (KUBE_OPENAPI_DIR / "VERSION").read_text().strip()  # e.g. v1.36.4
    api = "v0." + kube.split(".", 1)[1]
    assert f"k8s.io/api {api}" in (REFERENCE / "go.mod").read_text()


def test_generated_crd_equals_controller_gen_output(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(REFERENCE / "generate.sh"), str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    reference = yaml.safe_load((tmp_path / "batch.cs.sap.com_reactivejobs.yaml").read_text())
    ours = yaml.safe_load(OURS.read_text())
    # Intended differences: we are not controller-gen, so we do not claim its version; the
    # admission rules on jobTemplate.metadata (CEL, plus generateName so a rule can see it) and on
    # the name's length.
    reference["metadata"].pop("annotations")
    schema = ours["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    template_metadata = schema["properties"]["spec"]["properties"]["jobTemplate"]["properties"][
        "metadata"
    ]
    assert template_metadata.pop("x-kubernetes-validations")
    assert [r["rule"] for r in schema.pop("x-kubernetes-validations")] == [
        "self.metadata.name.size() <= 63"  # a name that could never run is refused
    ]
    assert template_metadata["properties"].pop("generateName") == {"type": "string"}
    # Run control and config triggers add optional fields and two columns; the rest is the Go
    # operator's CRD, so its objects (none of these fields) mean the same under both.
    spec = schema["properties"]["spec"]
    for field in RUN_CONTROL_SPEC:
        assert field not in spec.get("required", [])
        del spec["properties"][field]
    status = schema["properties"]["status"]["properties"]
    for field in RUN_CONTROL_STATUS:
        del status[field]
    # Suspended (run control), Queued and Evicted (Kueue): only objects using those features
    # are ever in them. The description says what the two Kueue states mean.
    for state in ("Suspended", "Queued", "Evicted"):
        status["state"]["enum"].remove(state)
    status["state"]["description"] = "Readable form of the state."
    columns = ours["spec"]["versions"][0]["additionalPrinterColumns"]
    names = [(c["name"], c.get("priority", 0)) for c in columns]
    assert names == [("State", 0), ("Job", 0), ("Ready", 0), ("Age", 0), ("Generation", 1),
                     ("Observed", 1)]  # fmt: skip
    columns[:] = [c for c in columns if c["name"] in ("State", "Age")]
    # kubectl's names: `kubectl get rj`, and a category of its own instead of "all".
    assert ours["spec"]["names"].pop("shortNames") == ["rj"]
    assert ours["spec"]["names"].pop("categories") == ["reactivejobs"]
    assert normalized(ours) == normalized(reference)

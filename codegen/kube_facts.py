"""Facts controller-gen reads from the Go source that the published OpenAPI does not carry.

Our CRD is built from the OpenAPI, so these few facts are stated here, per upstream type. Each
was found by comparing with controller-gen's output for the same release
(tests/crd_reference); the equivalence test fails when an upgrade changes them.
"""

from __future__ import annotations

import re

CORE = "io.k8s.api.core.v1"
BATCH = "io.k8s.api.batch.v1"

# Defaults kube-openapi resolved from `+default=ref(Const)` (controller-gen ignores those), or
# invented for an optional field that is not omitempty: not in the Go operator's CRD.
DEFAULTS_NOT_IN_CRD: dict[str, frozenset[str]] = {
    f"{CORE}.AzureDiskVolumeSource": frozenset({"cachingMode", "kind"}),
    f"{BATCH}.PodFailurePolicyOnPodConditionsPattern": frozenset({"status"}),
}

# Structs that embed the atomic LocalObjectReference: controller-gen propagates
# `+structType=atomic` through the embedding, kube-openapi does not.
ATOMIC_BY_EMBEDDING: frozenset[str] = frozenset(
    f"{CORE}.{name}"
    for name in (
        "ConfigMapEnvSource",
        "SecretEnvSource",
        "ConfigMapVolumeSource",
        "ConfigMapProjection",
        "SecretProjection",
    )
)

# Named string types used as array items: controller-gen emits the Go type's comment as the
# items' description; kube-openapi inlines the bare string.
ITEM_DESCRIPTIONS: dict[tuple[str, str], str] = {
    (f"{CORE}.Capabilities", "add"): "Capability represent POSIX capabilities type",
    (f"{CORE}.Capabilities", "drop"): "Capability represent POSIX capabilities type",
}

# kube-openapi appends the values of Go `+enum` types to the description; controller-gen
# neither emits the enum nor the suffix.
_ENUM_SUFFIX = re.compile(r"\n\nPossible enum values:\n( - .*(\n|$))+\Z")


def strip_enum_suffix(description: str) -> str:
    return _ENUM_SUFFIX.sub("", description)

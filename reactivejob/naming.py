"""The names the Go operator put on the wire; ours must match for a drop-in takeover."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from reactivejob_api import GROUP

FINALIZER = f"{GROUP}/reactivejob-operator"
LABEL_CONTROLLER_UID = f"{GROUP}/controller-uid"
LABEL_CONTROLLER_NAME = f"{GROUP}/controller-name"
ANNOTATION_GENERATION = f"{GROUP}/controller-generation"
ANNOTATION_HASH = f"{GROUP}/controller-hash"

# Finalizers the API server's garbage collector owns: not "foreign" for DeletionBlocked.
GC_FINALIZERS = frozenset({"foregroundDeletion", "orphan"})

_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the apiserver's generateName alphabet
_MAX_NAME = 63  # a Job's name becomes the job-name label of its Pods


def template_hash(template: Any) -> str:
    """sha256 over canonical JSON of the template exactly as the API server stored it.

    Never over a model dump: a model (or our upgrade of it) may add, drop or reorder fields,
    which would change the hash and re-run every Job.
    """
    return digest_of(canonical_json(template))


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest_of(canonical: str) -> str:
    return hashlib.sha256(canonical.encode()).hexdigest()


def job_name(reactive_job_name: str, uid: str, generation: int) -> str:
    """``<name>-<5 chars>``, the suffix fixed by uid and generation: a retried create after a
    crash meets AlreadyExists instead of making a second Job for the same template."""
    digest = int.from_bytes(hashlib.sha256(f"{uid}/{generation}".encode()).digest()[:8], "big")
    suffix = ""
    for _ in range(5):
        digest, index = divmod(digest, len(_SUFFIX_ALPHABET))
        suffix += _SUFFIX_ALPHABET[index]
    prefix = reactive_job_name[: _MAX_NAME - len(suffix) - 1].rstrip("-.")
    return f"{prefix}-{suffix}"

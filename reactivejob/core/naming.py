"""Job names, and the hashes that identify a run. The labels and annotations are in
``reactivejob_api.vocabulary``: the Go operator's names, which ours must match for a takeover."""

from __future__ import annotations

import hashlib
import json
from typing import Any

RERUN_TOKEN_MAX = 63

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


def job_name(
    reactive_job_name: str,
    uid: str,
    generation: int,
    rerun: str | None = None,
    *,
    config_hash: str | None = None,
    run: int = 0,
) -> str:
    """``<name>-<5 chars>``, the suffix fixed by uid, generation, and the rerun token when there
    is one: a retried create after a crash meets AlreadyExists instead of making a second Job
    for the same run. Without a token the name is the one it always was. With config
    triggers the config hash and run number join in: config may change back and forth within
    one generation, and each change is a run of its own."""
    seed = f"{uid}/{generation}" if rerun is None else f"{uid}/{generation}/{rerun}"
    if config_hash is not None:
        seed += f"#config={config_hash}#run={run}"
    digest = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    suffix = ""
    for _ in range(5):
        digest, index = divmod(digest, len(_SUFFIX_ALPHABET))
        suffix += _SUFFIX_ALPHABET[index]
    prefix = reactive_job_name[: _MAX_NAME - len(suffix) - 1].rstrip("-.")
    return f"{prefix}-{suffix}"

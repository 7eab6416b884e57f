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
# Added by run control (none of them changes the name of a Job the Go operator would make):
# on a ReactiveJob, a manual re-run request; on a Job, the request it was made for.
ANNOTATION_RERUN = f"{GROUP}/rerun"
# On a Job: why its run was made (Created, TemplateChanged, Rerun), so a crash between the
# create and the status write loses nothing of the history.
ANNOTATION_RUN_CAUSE = f"{GROUP}/run-cause"
# On a Job the operator created suspended to wait for older ones: only such a Job is resumed.
ANNOTATION_HELD = f"{GROUP}/held"
# On a Job: its run's number within its ReactiveJob, which orders the Jobs of one generation
# (reruns, config changes) where creationTimestamp, in whole seconds, cannot.
ANNOTATION_RUN = f"{GROUP}/run"
# On a Job made with spec.rerunOnConfigChange: the hash of the ConfigMaps and Secrets it read.
ANNOTATION_CONFIG_HASH = f"{GROUP}/config-hash"
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

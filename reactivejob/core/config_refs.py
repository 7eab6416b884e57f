"""What a Job reads besides its template: the ConfigMaps and Secrets its pod template names,
and the hash of their data that, with the template's hash, identifies a run.

Pure functions over plain JSON. Secret values never pass through here: the Secret cache keeps
only a digest of each Secret's data, and the config hash is made from those digests.

The config hash is published (a Job annotation, the status history), where anyone who can read
them could try candidate values of a low-entropy Secret (a PIN) offline. With a key, it is an
HMAC that only the holder of the key can compute. The unkeyed hash of the same config is still
recognised, so turning the key on re-runs nothing; changing the key re-runs each ReactiveJob
that opts in once, as a change of its config would.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .naming import canonical_json, digest_of

CONFIG_MAP, SECRET = "ConfigMap", "Secret"
# Stands for a missing optional reference: it counts as empty, as the kubelet treats it.
ABSENT = digest_of(canonical_json({}))


@dataclass(frozen=True, order=True, slots=True)
class Reference:
    kind: str  # ConfigMap | Secret
    name: str
    optional: bool  # every use of it is optional: its absence does not hold the run

    def describe(self) -> str:
        return f"{self.kind} {self.name}"


def references(template: Mapping[str, Any]) -> tuple[Reference, ...]:
    """The ConfigMaps and Secrets the pod template of a JobTemplateSpec uses, each once, in
    canonical order; required wherever any one use of it is required."""
    pod = ((template.get("spec") or {}).get("template") or {}).get("spec") or {}
    required: dict[tuple[str, str], bool] = {}
    for kind, name, optional in _uses(pod):
        if name:
            key = (kind, name)
            required[key] = required.get(key, False) or not optional
    return tuple(sorted(Reference(k, n, not r) for (k, n), r in required.items()))


def _uses(pod: Mapping[str, Any]) -> Iterator[tuple[str, str, bool]]:
    for volume in pod.get("volumes") or []:
        yield from _source(volume)
        for source in (volume.get("projected") or {}).get("sources") or []:
            yield from _source(source)
    containers = (
        *(pod.get("initContainers") or []),
        *(pod.get("containers") or []),
        *(pod.get("ephemeralContainers") or []),
    )
    for container in containers:
        for source in container.get("envFrom") or []:
            for field, kind in (("configMapRef", CONFIG_MAP), ("secretRef", SECRET)):
                if ref := source.get(field):
                    yield kind, ref.get("name", ""), bool(ref.get("optional"))
        for variable in container.get("env") or []:
            value_from = variable.get("valueFrom") or {}
            for field, kind in (("configMapKeyRef", CONFIG_MAP), ("secretKeyRef", SECRET)):
                if ref := value_from.get(field):
                    yield kind, ref.get("name", ""), bool(ref.get("optional"))


def _source(source: Mapping[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """A volume, or a projected volume's source: configMap.name, secret.secretName (in a
    volume) or secret.name (in a projection)."""
    if config_map := source.get("configMap"):
        yield CONFIG_MAP, config_map.get("name", ""), bool(config_map.get("optional"))
    if secret := source.get("secret"):
        name = secret.get("secretName") or secret.get("name") or ""
        yield SECRET, name, bool(secret.get("optional"))


def data_digest(raw: Mapping[str, Any]) -> str:
    """A digest of a ConfigMap's or Secret's data (not its metadata): the only thing kept of
    it. A Secret's values go into the hash and nowhere else."""
    data = {"data": raw.get("data") or {}, "binaryData": raw.get("binaryData") or {}}
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()


@dataclass(frozen=True)
class ConfigView:
    """What the operator knows of a ReactiveJob's references, for ``decide``."""

    hash: str | None  # None while a required reference is missing
    missing: tuple[Reference, ...] = ()
    problem: str | None = None  # the config cannot be known (no rights, triggers off)
    # The same config under the unkeyed hash (Jobs made before the key): still current.
    also: tuple[str, ...] = ()

    def matches(self, config_hash: str) -> bool:
        return config_hash == self.hash or config_hash in self.also


def config_view(
    refs: tuple[Reference, ...],
    digests: Mapping[Reference, str | None],
    key: bytes | None = None,
) -> ConfigView:
    """``digests`` holds each reference's data digest, None when the object does not exist;
    ``key``, when given, keys the hash (HMAC-SHA256)."""
    missing = tuple(r for r in refs if digests.get(r) is None and not r.optional)
    if missing:
        return ConfigView(None, missing)
    entries = canonical_json([[r.kind, r.name, digests.get(r) or ABSENT] for r in refs])
    unkeyed = digest_of(entries)
    if key is None:
        return ConfigView(unkeyed)
    return ConfigView(hmac.new(key, entries.encode(), hashlib.sha256).hexdigest(), also=(unkeyed,))

"""ConfigMaps and Secrets of the watched namespaces, for config triggers (``--config-triggers``).

Each object is kept as a digest of its data and nothing else, so a Secret's values live only
as long as hashing them takes. An index maps each object to the ReactiveJobs that reference it:
a change of its data queues exactly those (500 referrers: 500 keys, no scan), and a change of
its metadata alone queues nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from reactivejob.core.config_refs import ConfigView, Reference, config_view, data_digest
from reactivejob_api import Forbidden
from typedkube.aio import AsyncResourceClient

from .clients import ApiClients
from .informer import Informer, Key

TRIGGERS_OFF = (
    "spec.rerunOnConfigChange is true, but this operator does not watch ConfigMaps and "
    "Secrets: enable configTriggers in the chart (the operator's --config-triggers)"
)


# Only a digest of each is kept, but a page arrives whole, data and all, and a Secret or a
# ConfigMap may hold up to 1 MiB (Helm's release Secrets often do): 10 to a page bounds what one
# page costs at about 10 MiB of text and its parse, where 500 could take gigabytes.
CONFIG_PAGE_SIZE = 10


class ConfigCache:
    def __init__(
        self,
        clients: ApiClients,
        namespaces: Sequence[str],
        on_change: Callable[[Key], None],
        key: bytes | None = None,
    ) -> None:
        """``key``: keys the config hash (see ``config_refs``); never logged."""
        self._on_change = on_change
        self._key = key
        scopes: list[str | None] = list(namespaces) or [None]
        # Keyed by kind as a Reference names it: ConfigMap, Secret.
        self._informers = {
            (client.kind, ns): self._informer(client, ns)
            for client in (clients.watching.config_maps, clients.watching.secrets)
            for ns in scopes
        }
        self._referrers: dict[tuple[str, str, str], set[str]] = {}  # (ns, kind, name) -> RJs
        self._references: dict[Key, tuple[Reference, ...]] = {}

    @property
    def informers(self) -> list[Informer[Any]]:
        return list(self._informers.values())

    def track(self, key: Key, references: tuple[Reference, ...] | None) -> None:
        """Index what the ReactiveJob ``key`` references now (None: it does not opt in)."""
        namespace, name = key
        before = self._references.pop(key, ())
        for ref in before:
            referrers = self._referrers.get((namespace, ref.kind, ref.name), set())
            referrers.discard(name)
            if not referrers:
                self._referrers.pop((namespace, ref.kind, ref.name), None)
        if references:
            self._references[key] = references
            for ref in references:
                self._referrers.setdefault((namespace, ref.kind, ref.name), set()).add(name)

    def view(self, namespace: str, references: tuple[Reference, ...]) -> ConfigView | None:
        """What is known of ``references``; None until the caches have listed (the reconcile
        waits), or a problem when they cannot list at all."""
        digests: dict[Reference, str | None] = {}
        for kind in sorted({ref.kind for ref in references}):
            informer = self._scope(kind, namespace)
            if not informer.synced.is_set():
                if isinstance(informer.last_error, Forbidden):
                    return ConfigView(None, problem=_forbidden(informer, namespace))
                return None
        for ref in references:
            digests[ref] = self._scope(ref.kind, namespace).store.get((namespace, ref.name))
        return config_view(references, digests, self._key)

    def _scope(self, kind: str, namespace: str) -> Informer[str]:
        return self._informers.get((kind, namespace)) or self._informers[(kind, None)]

    def _informer(
        self, client: AsyncResourceClient[Any, Any], namespace: str | None
    ) -> Informer[str]:
        kind = client.kind

        def changed(key: Key, old: str | None, new: str | None) -> None:
            if old == new:
                return  # metadata only (labels, annotations): the data is the same
            for name in self._referrers.get((key[0], kind, key[1]), ()):
                self._on_change((key[0], name))

        def synced_now() -> None:  # a missing object has no event: look again at every referrer
            for key in (
                k for k, refs in self._references.items() if any(r.kind == kind for r in refs)
            ):
                if namespace is None or key[0] == namespace:
                    self._on_change(key)

        return Informer(client, namespace, lambda raw, _old: data_digest(raw), changed,
                        on_synced=synced_now, page_size=CONFIG_PAGE_SIZE)  # fmt: skip


def _forbidden(informer: Informer[str], namespace: str) -> str:
    return (
        f"cannot watch {informer.client.plural} in namespace {namespace}: enable configTriggers in "
        "the chart (it grants get, list and watch on configmaps and secrets)"
    )

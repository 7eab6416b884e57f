"""The keyword options of the verbs (``**kw`` of ResourceClient and AsyncResourceClient), as
TypedDicts: a type checker checks each keyword, and an editor lists them."""

from __future__ import annotations

from typing import TypedDict

from .wire import PatchType


class Selectors(TypedDict, total=False):
    label_selector: str | None
    field_selector: str | None


class ListOptions(Selectors, total=False):
    limit: int | None
    continue_: str | None


class WatchOptions(Selectors, total=False):
    resource_version: str | None
    timeout_seconds: int | None  # the server ends the watch then
    allow_bookmarks: bool


class WriteOptions(TypedDict, total=False):
    namespace: str | None  # default: the object's metadata.namespace
    field_manager: str | None


class CreateOptions(WriteOptions, total=False):
    dry_run: bool


class PatchOptions(TypedDict, total=False):
    type: PatchType  # "merge" (a dict, the default) or "json" (a list of operations)
    field_manager: str | None


class ApplyOptions(TypedDict, total=False):
    namespace: str | None
    force: bool


class DeleteOptions(TypedDict, total=False):
    propagation_policy: str | None  # Foreground, Background, Orphan
    grace_period_seconds: int | None
    dry_run: bool

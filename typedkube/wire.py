"""What generated sync and async clients share: request shaping and answer parsing, no I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel

from ._connection import Connection
from ._errors import ApiError, Unauthorized, error_from_status

PatchType = Literal["merge", "json"]
Patch = dict[str, Any] | list[dict[str, Any]]
CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}
EventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]
T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class WatchEvent(Generic[T]):
    """One change seen by a watch; BOOKMARK events carry only a resourceVersion."""

    type: EventType
    object: T


def body_of(obj: BaseModel | dict[str, Any]) -> dict[str, Any]:
    """The JSON body for an object: by alias, unset fields left out, unknown fields kept."""
    if isinstance(obj, BaseModel):
        dumped: dict[str, Any] = obj.model_dump(by_alias=True, exclude_unset=True, mode="json")
        return dumped
    return dict(obj)


def name_and_namespace(body: dict[str, Any], namespace: str | None) -> tuple[str | None, str]:
    metadata = body.get("metadata") or {}
    resolved = namespace or metadata.get("namespace")
    if not resolved:
        raise ValueError("no namespace: set metadata.namespace or pass namespace=")
    return metadata.get("name"), resolved


def query(**params: Any) -> dict[str, str]:
    """Query parameters with Kubernetes spelling; None values are left out."""
    spelled = {
        "label_selector": "labelSelector",
        "field_selector": "fieldSelector",
        "resource_version": "resourceVersion",
        "timeout_seconds": "timeoutSeconds",
        "allow_bookmarks": "allowWatchBookmarks",
        "field_manager": "fieldManager",
        "continue_": "continue",
        "propagation_policy": "propagationPolicy",
        "grace_period_seconds": "gracePeriodSeconds",
    }
    result: dict[str, str] = {}
    for key, value in params.items():
        if value is None or value is False:
            continue
        if key == "dry_run":
            result["dryRun"] = "All"
        elif value is True:
            result[spelled.get(key, key)] = "true"
        else:
            result[spelled.get(key, key)] = str(value)
    return result


def error_for(status: int, text: str, connection: Connection | None = None) -> ApiError:
    """The error for an answer; a 401 names whose credentials were refused (the server's
    own message is only "Unauthorized"), never the token."""
    try:
        parsed: Any = json.loads(text)
    except ValueError:
        parsed = text
    error = error_from_status(status, parsed)
    if isinstance(error, Unauthorized) and connection is not None:
        error.message = f"the API server refused the credentials of {connection.describe()}"
        error.args = (f"{error.status} {error.reason}: {error.message}",)
    return error


def watch_event(line: str | bytes) -> tuple[EventType, dict[str, Any]] | None:
    """Parse one line of a watch stream; an ERROR event (e.g. 410 Gone) is raised."""
    if not line or not line.strip():
        return None
    event = json.loads(line)
    if event.get("type") == "ERROR":
        status = event.get("object") or {}
        raise error_from_status(int(status.get("code") or 500), status)
    return event["type"], event["object"]

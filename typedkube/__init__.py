"""A small typed client core for the Kubernetes API, shared by the generated ``reactivejob_api``.

Hand-written and schema-independent: where the API server is and how to log in
(``Connection``), the errors it answers with, how requests are shaped and answers parsed
(``typedkube.wire``), and the verbs of any resource, written once (``_verbs``) and sent by a
sync (``typedkube.sync.ResourceClient``) and an async (``typedkube.aio.AsyncResourceClient``)
client. Only the thin per-resource classes that name a resource and its models are generated.
"""

from ._connection import Connection
from ._errors import (
    AlreadyExists,
    ApiError,
    ConfigError,
    Conflict,
    Expired,
    Forbidden,
    Invalid,
    NotFound,
    Unauthorized,
    error_from_status,
)
from .wire import EventType, Patch, PatchType, WatchEvent

__all__ = [
    "AlreadyExists",
    "ApiError",
    "ConfigError",
    "Conflict",
    "Connection",
    "EventType",
    "Expired",
    "Forbidden",
    "Invalid",
    "NotFound",
    "Patch",
    "PatchType",
    "Unauthorized",
    "WatchEvent",
    "error_from_status",
]

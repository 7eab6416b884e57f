"""Errors from the Kubernetes API, one base class with a subclass per answer callers act on."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """The API server refused a request; ``message`` is the server's own words."""

    def __init__(self, status: int, reason: str, message: str, body: Any = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body


class NotFound(ApiError):
    """404: the object (or its namespace, or the resource type) does not exist."""


class Conflict(ApiError):
    """409: the object changed since it was read (resourceVersion), or a field-manager conflict."""


class AlreadyExists(Conflict):
    """409 AlreadyExists: an object with this name exists already."""


class Invalid(ApiError):
    """422: the object failed validation (schema, CEL rules, or an admission webhook)."""


class Expired(ApiError):
    """410 Gone: the resourceVersion is too old; list again and watch from the new version."""


class Unauthorized(ApiError):
    """401: the API server does not accept the credentials (an expired or revoked token)."""


class Forbidden(ApiError):
    """403: the identity lacks RBAC rights, or an admission webhook denied the request."""


_BY_STATUS: dict[int, type[ApiError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Expired,
    422: Invalid,
}


def error_from_status(status: int, body: Any) -> ApiError:
    """The matching error for an HTTP status and the server's Status object (or raw text)."""
    reason = ""
    message = ""
    if isinstance(body, dict):
        reason = str(body.get("reason") or "")
        message = str(body.get("message") or "")
        status = int(body.get("code") or status)
    elif body:
        message = str(body)
    kind = _BY_STATUS.get(status, ApiError)
    if kind is Conflict and reason == "AlreadyExists":
        kind = AlreadyExists
    return kind(status, reason or kind.__name__, message, body)


class ConfigError(Exception):
    """No usable connection: no kubeconfig, or not in a Pod; the message says what is missing."""

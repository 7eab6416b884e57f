"""Who may read /metrics: the caller's bearer token is checked by the API server, as
controller-runtime's ``filters.WithAuthenticationAndAuthorization`` does (kubebuilder's
default since v4): a TokenReview says who it is, a SubjectAccessReview whether that identity
may ``get`` the path (a ClusterRole with ``nonResourceURLs: [/metrics]``).

Answers are cached for a short while, keyed by a digest of the token (never the token), so a
scrape every 15 s costs the API server two small calls a minute at most.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp

from reactivejob_api import Connection

from .clock import SYSTEM, Clock

log = logging.getLogger(__name__)

CACHE_SECONDS = 10.0


@dataclass(frozen=True)
class Verdict:
    status: int  # 200, 401 (who are you?) or 403 (not allowed)
    reason: str


class AccessReviews:
    def __init__(
        self, http: aiohttp.ClientSession, connection: Connection, clock: Clock = SYSTEM
    ) -> None:
        self._http = http
        self._server = connection.server
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[float, Verdict]] = {}

    async def review(self, authorization: str | None, path: str) -> Verdict:
        """The verdict on a request for ``path`` with this Authorization header."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return Verdict(401, "a bearer token is required")
        key = (hashlib.sha256(token.strip().encode()).hexdigest(), path)
        now = self._clock.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        verdict = await self._review(token.strip(), path)
        if len(self._cache) > 1000:  # many callers: forget the old answers, not the process
            self._cache.clear()
        self._cache[key] = (now + CACHE_SECONDS, verdict)
        return verdict

    async def _review(self, token: str, path: str) -> Verdict:
        identity = await self._post(
            "/apis/authentication.k8s.io/v1/tokenreviews",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
             "spec": {"token": token}},
        )  # fmt: skip
        status = identity.get("status") or {}
        if not status.get("authenticated"):
            return Verdict(401, "the token was not accepted by the API server")
        user = status.get("user") or {}
        decision = await self._post(
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": {
                    "user": user.get("username"),
                    "uid": user.get("uid"),
                    "groups": user.get("groups"),
                    "extra": user.get("extra"),
                    "nonResourceAttributes": {"path": path, "verb": "get"},
                },
            },
        )
        name = user.get("username", "?")
        if not (decision.get("status") or {}).get("allowed"):
            return Verdict(403, f"{name} may not get {path}")
        return Verdict(200, f"{name} may get {path}")

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self._http.post(self._server + path, json=body) as answer:
            if answer.status >= 400:
                raise aiohttp.ClientResponseError(
                    answer.request_info, (), status=answer.status, message=await answer.text()
                )
            found: dict[str, Any] = await answer.json()
            return found

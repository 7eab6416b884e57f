"""Bearer tokens that change while a process runs: read again when they may have, never cached
for good.

A Pod's ServiceAccount token is a projected file the kubelet rewrites before it expires (about
hourly); an exec plugin's token has its own expiry. client-go re-reads a token file at least
once a minute and, on a 401, once more before it gives up; these sources do the same. Nothing
here ever logs or formats a token: only where it came from (``origin``) and whose it is.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

# client-go's cachingTokenSource re-reads the file after this long, changed or not.
REREAD_AFTER = 60.0


class TokenSource(Protocol):
    """Where the current bearer token comes from."""

    @property
    def origin(self) -> str:
        """Where the token comes from, for messages (a path, "kubeconfig user X"); no secret."""
        ...

    def token(self) -> str | None:
        """The token to send now."""
        ...

    def refresh(self) -> bool:
        """After a 401: read the token again. True if it changed (one retry is worth it)."""
        ...


def without_scheme(authorization: str) -> str | None:
    """The token in an ``Authorization`` value, whatever the case of its ``Bearer`` prefix.

    The kubernetes client's in-cluster loader writes ``bearer <token>`` in lower case, its
    kubeconfig loader ``Bearer <token>``; RFC 7235 makes the scheme case-insensitive. Another
    scheme (``Basic`` from a user name and password) is no bearer token: None.
    """
    scheme, _, rest = authorization.strip().partition(" ")
    if not rest:
        return scheme or None  # a bare token
    return rest.strip() or None if scheme.lower() == "bearer" else None


def subject_of(token: str | None) -> str | None:
    """The ``sub`` claim of a JWT (a ServiceAccount token's user name), or None.

    The claims are what the API server will call this identity in its answers; reading them
    reveals nothing of the signature that makes the token a credential.
    """
    if not token or token.count(".") != 2:
        return None
    payload = token.split(".")[1]
    try:
        claims: Any = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return None
    subject = claims.get("sub") if isinstance(claims, dict) else None
    return subject if isinstance(subject, str) else None


class StaticToken:
    """A token written into a kubeconfig or passed by hand: it never changes."""

    def __init__(self, value: str, origin: str) -> None:
        self._value = value
        self.origin = origin

    def token(self) -> str | None:
        return self._value

    def refresh(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"StaticToken(origin={self.origin!r})"


class TokenFile:
    """A token kept in a file that someone else rewrites (the kubelet, a sidecar).

    Read again when the file changed (a kubelet swaps the projected volume's ``..data`` link,
    so a stat sees the new file at once), at least every ``reread_after`` seconds, and on
    ``refresh()``. A file that cannot be read keeps the last token: the API server's 401 then
    says what is wrong, and the next read may succeed.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        reread_after: float = REREAD_AFTER,
        clock: Callable[[], float] = time.monotonic,  # injected so tests can move time
    ) -> None:
        self.path = Path(path)
        self.origin = f"token file {self.path}"
        self._reread_after = reread_after
        self._clock = clock
        self._lock = threading.Lock()  # the sync client may be shared by threads
        self._value: str | None = None
        self._read_at = float("-inf")
        self._stamp: tuple[int, int, int] | None = None

    def token(self) -> str | None:
        with self._lock:
            stamp = self._stat()
            if stamp != self._stamp or self._clock() - self._read_at >= self._reread_after:
                self._read(stamp)
            return self._value

    def refresh(self) -> bool:
        with self._lock:
            before = self._value
            self._read(self._stat())
            return self._value != before

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def _read(self, stamp: tuple[int, int, int] | None) -> None:
        self._read_at = self._clock()
        self._stamp = stamp
        try:
            value = self.path.read_text().strip()
        except OSError:
            return
        if value:
            self._value = value

    def __repr__(self) -> str:
        return f"TokenFile({str(self.path)!r})"


class ReloadingToken:
    """A kubeconfig user whose token comes from an exec plugin (or an auth provider).

    ``current`` asks the kubernetes client's loader for the token, which re-runs the plugin
    once its ``expirationTimestamp`` has passed; ``reload`` loads the kubeconfig afresh, so a
    401 runs the plugin again even before that.
    """

    def __init__(
        self, origin: str, current: Callable[[], str | None], reload: Callable[[], str | None]
    ) -> None:
        self.origin = origin
        self._current = current
        self._reload = reload
        self._lock = threading.Lock()
        self._value: str | None = None

    def token(self) -> str | None:
        with self._lock:
            self._value = self._current()
            return self._value

    def refresh(self) -> bool:
        with self._lock:
            before = self._value
            self._value = self._reload()
            return self._value is not None and self._value != before

    def __repr__(self) -> str:
        return f"ReloadingToken(origin={self.origin!r})"

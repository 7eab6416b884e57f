"""The one error type the control plane raises: a cause and the fix, said once."""

from __future__ import annotations


class ControlPlaneError(RuntimeError):
    """The control plane could not be built or started; ``str()`` names the cause and the fix."""

    def __init__(self, cause: str, *, fix: str) -> None:
        super().__init__(f"{cause}\n  fix: {fix}")
        self.cause = cause
        self.fix = fix

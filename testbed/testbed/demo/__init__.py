"""``make demo`` / ``reactivejob-demo``: the operator's whole story on an embedded control plane."""

from .story import main

__all__ = ["main"]

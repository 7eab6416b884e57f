"""``kubectl reactivejob``: re-run, wait for, and read the history and status of ReactiveJobs.

Installed as the console script ``kubectl-reactivejob``, so kubectl finds it as a plugin; also
``python -m reactivejob_api`` and ``python -m reactivejob_cli``.
"""

from .app import main

__all__ = ["main"]

"""A real Kubernetes control plane on loopback, for tests, the demo, and anyone who wants one."""

from .binaries import Binaries, resolve
from .clients import api_client
from .cluster import DEFAULT_CONTROLLERS, ControlPlane, sweep_stale_runs
from .errors import ControlPlaneError
from .versions import kubernetes_version

__all__ = [
    "DEFAULT_CONTROLLERS",
    "Binaries",
    "ControlPlane",
    "ControlPlaneError",
    "api_client",
    "kubernetes_version",
    "resolve",
    "sweep_stale_runs",
]

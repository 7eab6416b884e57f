"""What tests, the benchmark and the demo need around a ReactiveJob operator on the testbed.

The control plane itself (``testbed``) knows nothing of ReactiveJobs; this harness adds the
stand-in kubelet, the operator as a child process, and the ReactiveJob CRD install. None of it
ships with the operator.
"""

from __future__ import annotations

from importlib.resources import as_file

from kubernetes import client

from reactivejob_api import CRD_FILE
from testbed.manifests import install_crds

from .kubelet import COMPLETE, DELAY_ANNOTATION, FAILED, OUTCOME_ANNOTATION, JobRunner
from .operator_process import OperatorProcess


def install_reactivejob_crd(api: client.ApiClient) -> list[str]:
    """The generated ReactiveJob CRD, server-side applied and served (it is over 256 KiB)."""
    with as_file(CRD_FILE) as crd:
        return install_crds(api, [crd])


__all__ = [
    "COMPLETE",
    "DELAY_ANNOTATION",
    "FAILED",
    "OUTCOME_ANNOTATION",
    "JobRunner",
    "OperatorProcess",
    "install_reactivejob_crd",
]

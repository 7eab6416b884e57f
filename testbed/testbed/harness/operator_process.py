"""The operator as a child process (tests, the demo): started, probed, stopped or killed."""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from testbed.errors import ControlPlaneError
from testbed.harness.pod_sandbox import PodSandbox
from testbed.processes import ManagedProcess, free_port

# Names the fault point for testbed.harness.paused_operator (kept here: importing that module
# imports the whole operator).
PAUSE_ENV = "REACTIVEJOB_TEST_PAUSE_AT"


class OperatorProcess:
    """``python -m reactivejob run`` against a kubeconfig, with a liveness port of its own;
    or, given a ``PodSandbox`` instead, as a Pod runs it: no kubeconfig, its ServiceAccount
    at the in-cluster path, a numeric user."""

    def __init__(
        self,
        kubeconfig: Path | None,
        namespaces: Sequence[str],
        log_path: Path,
        extra_args: Sequence[str] = (),
        *,
        sandbox: PodSandbox | None = None,
        listen: str = "127.0.0.1",
    ) -> None:
        """``listen``: the host of the probe and metrics addresses; "" is every interface."""
        if (kubeconfig is None) == (sandbox is None):
            raise ValueError("give a kubeconfig or a Pod sandbox, not both or neither")
        self.kubeconfig = kubeconfig
        self.sandbox = sandbox
        self.namespaces = list(namespaces)
        self.log_path = log_path
        self.extra_args = list(extra_args)
        self.listen = listen
        self.port = 0
        self.metrics_port = 0
        self.process: ManagedProcess | None = None
        self.starts = 0
        # A fault point of testbed.harness.paused_operator for the next start(), or None.
        self.pause_at: str | None = None

    def start(self, timeout: float = 30.0, *, wait_ready: bool = True) -> OperatorProcess:
        self.port, self.metrics_port = free_port(), free_port()
        scope = [f"--namespace={ns}" for ns in self.namespaces] or ["--all-namespaces"]
        module = "testbed.harness.paused_operator" if self.pause_at else "reactivejob"
        login = [f"--kubeconfig={self.kubeconfig}"] if self.kubeconfig else []
        argv = [
            sys.executable, "-m", module, "run", *login, *scope,
            f"--health-probe-bind-address={self.listen}:{self.port}",
            f"--metrics-bind-address={self.listen}:{self.metrics_port}",
            "--log-level=DEBUG", *self.extra_args,
        ]  # fmt: skip
        self.starts += 1
        log_path = self.log_path.with_name(f"{self.log_path.stem}-{self.starts}.log")
        env = {PAUSE_ENV: self.pause_at} if self.pause_at else None
        if self.sandbox is not None:
            # The sandbox passes only a Pod's environment on; the pause point goes with it.
            extra = tuple(env.items()) if env else ()
            sandbox = replace(self.sandbox, extra_env=self.sandbox.extra_env + extra)
            argv = sandbox.wrap(argv)
        self.process = ManagedProcess("reactivejob-operator", argv, log_path, env)
        self._wait_for("/readyz" if wait_ready else "/healthz", timeout)
        return self

    def get(self, path: str, port: int | None = None) -> str:
        """GET one of the operator's own endpoints (/healthz, /readyz, /metrics)."""
        url = f"http://127.0.0.1:{port or self.port}{path}"
        with urllib.request.urlopen(url, timeout=2) as response:
            text: str = response.read().decode()
            return text

    def metrics(self) -> str:
        return self.get("/metrics", self.metrics_port)

    def _wait_for(self, path: str, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.port}{path}"
        while time.monotonic() < deadline:
            if self.process.exit_code() is not None:
                raise ControlPlaneError(
                    f"the operator exited with {self.process.exit_code()}:\n"
                    f"{self.process.log_tail(40)}",
                    fix="see the log above",
                )
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise ControlPlaneError(
            f"the operator did not answer {url} within {timeout:.0f}s:\n"
            f"{self.process.log_tail(40)}",
            fix="see the log above",
        )

    def kill(self) -> None:
        """SIGKILL: no cleanup, exactly what a crash or an OOM kill does."""
        if self.process is not None:
            self.process.kill()

    def stop(self) -> int | None:
        """SIGTERM and wait: the graceful shutdown a Deployment rollout does."""
        if self.process is None:
            return None
        self.process.stop(timeout=20)
        return self.process.exit_code()

    def logs(self) -> str:
        texts = []
        for path in sorted(self.log_path.parent.glob(f"{self.log_path.stem}-*.log")):
            texts.append(f"--- {path.name}\n{path.read_text(errors='replace')}")
        return "\n".join(texts)

"""Child processes that cannot outlive the process that started them."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import ControlPlaneError

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    """Runs in the child between fork and exec: ask the kernel to SIGKILL us when the parent dies.

    This is what makes a SIGKILLed test run leave no etcd or kube-apiserver behind.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


class ManagedProcess:
    """One control-plane process, its log file, and a stop that always finishes."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        parent = os.getpid()
        with log_path.open("wb") as log:
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env} if env else None,
                preexec_fn=lambda: _die_with_parent(parent),  # noqa: PLW1509 - needs prctl
                start_new_session=True,  # Ctrl-C reaches us, and we stop children in order
            )

    @property
    def pid(self) -> int:
        return self._popen.pid

    def exit_code(self) -> int | None:
        return self._popen.poll()

    def log_tail(self, lines: int = 30) -> str:
        try:
            content = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(content[-lines:])

    def kill(self) -> None:
        """SIGKILL and reap: what a crash or an OOM kill does."""
        if self._popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._popen.kill()
            self._popen.wait()

    def stop(self, timeout: float = 10.0) -> None:
        if self._popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self._popen.send_signal(signal.SIGTERM)
        try:
            self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                self._popen.kill()
            self._popen.wait()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def require_free_port(port: int, what: str, host: str = "127.0.0.1") -> int:
    """``port`` if nothing listens there, else a clear error naming the port and the fix."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as error:
            raise ControlPlaneError(
                f"port {port} on {host}, asked for the {what}, is already in use "
                f"({error.strerror}).",
                fix=f"stop whatever listens there (`ss -ltnp | grep :{port}`), pick another "
                "port, or leave the port unset so a free one is chosen",
            ) from error
    return port


def peak_rss_mib(pid: int) -> float:
    """A process's high-water mark of resident memory (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for {pid}")

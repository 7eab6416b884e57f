"""A process that sees what a container in a Pod sees, without a kubelet.

The operator finds the API server and its identity the way every Pod does: no kubeconfig,
``KUBERNETES_SERVICE_HOST``/``_PORT``, and the ServiceAccount's token, CA and namespace at the
fixed path ``/var/run/secrets/kubernetes.io/serviceaccount``. It runs as a numeric user with no
passwd entry (the image's 65532) and no ``HOME``. A private mount namespace (``unshare -m``,
root only) puts a folder of the test's at that path without touching the host's ``/run``.

The real-node tier proves the same on a kubelet; this keeps the fast tier on the same path.
"""

from __future__ import annotations

import os
import shlex
import stat
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
NOBODY_UID = 65532  # the image's user: distroless's "nonroot", with no passwd entry here


@dataclass(frozen=True)
class PodSandbox:
    service_account: Path  # holds token, ca.crt and namespace, as the kubelet mounts them
    api_host: str
    api_port: int
    uid: int = NOBODY_UID
    extra_env: tuple[tuple[str, str], ...] = ()

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside the sandbox (the caller must be root)."""
        if os.geteuid() != 0:
            raise PermissionError("a Pod-like sandbox needs root (unshare -m, then setpriv)")
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "KUBERNETES_SERVICE_HOST": self.api_host,
            "KUBERNETES_SERVICE_PORT": str(self.api_port),
            **dict(self.extra_env),
        }
        steps = [
            "set -eu",
            # /run is private to this namespace from here: the host's stays as it was.
            "mount -t tmpfs -o mode=0755 pod-run /run",
            f"mkdir -p {SERVICE_ACCOUNT_DIR} /run/.reachable",
            f"mount --bind {shlex.quote(str(self.service_account))} {SERVICE_ACCOUNT_DIR}",
            *_reachable(_python_paths()),
            # The image's working directory; nothing of the checkout is importable from there.
            "cd /",
            " ".join(
                [
                    "exec setpriv", f"--reuid={self.uid}", f"--regid={self.uid}",
                    "--clear-groups", "--pdeathsig=SIGKILL", "env -i",
                    *(shlex.quote(f"{k}={v}") for k, v in env.items()), '"$@"',
                ]
            ),
        ]  # fmt: skip
        return ["unshare", "--mount", "--propagation=private", "sh", "-c", "\n".join(steps), "sh",
                *argv]  # fmt: skip


def _python_paths() -> list[Path]:
    """What the interpreter and its packages need to be reachable by any user."""
    paths = {Path(sys.executable).resolve(), Path(sys.base_prefix).resolve()}
    paths.update(Path(p).resolve() for p in sys.path if p and Path(p).exists())
    return sorted(paths)


def _reachable(paths: Iterable[Path]) -> list[str]:
    """Shell steps that make ``paths`` reachable by another user, changing nothing on the host.

    A folder others may not enter (``/root`` is 0700, and pyenv lives under it) is covered in
    this namespace by an empty tmpfs that anyone may enter, and only the needed child folders
    are bound back into it: the rest of that folder stays out of the sandbox's sight.
    """
    closed: dict[Path, set[Path]] = {}
    for path in paths:
        for parent in reversed(path.parents):
            if parent == Path("/") or parent in closed:
                continue
            if not os.stat(parent).st_mode & stat.S_IXOTH:
                closed.setdefault(parent, set()).add(parent / path.relative_to(parent).parts[0])
                break
    steps = []
    for number, (folder, children) in enumerate(sorted(closed.items())):
        for index, child in enumerate(sorted(children)):
            stash = f"/run/.reachable/{number}-{index}"
            make = "mkdir -p" if child.is_dir() else "touch"
            steps += [f"{make} {stash}", f"mount --bind {shlex.quote(str(child))} {stash}"]
        steps.append(f"mount -t tmpfs -o mode=0755 pod-open {shlex.quote(str(folder))}")
        for index, child in enumerate(sorted(children)):
            stash = f"/run/.reachable/{number}-{index}"
            make = "mkdir -p" if child.is_dir() else "touch"
            steps += [
                f"{make} {shlex.quote(str(child))}",
                f"mount --bind {stash} {shlex.quote(str(child))}",
            ]
    return steps

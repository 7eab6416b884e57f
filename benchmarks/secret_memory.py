"""Peak memory of the operator listing a namespace of large Secrets (Helm keeps each release in
one of up to 1 MiB), with config triggers on: the Secret cache keeps only digests, but a list
page arrives whole.

    .venv/bin/python benchmarks/secret_memory.py --secrets 600 --kib 900
    .venv/bin/python benchmarks/secret_memory.py --compare "CMD"   # the same, for another build

Prints the operator's peak RSS (VmHWM) once every Secret is in its cache. ``--compare`` runs a
second operator command (``{kubeconfig}`` and ``{namespace}`` are filled in), for a paired
figure on the same control plane and data.
"""

from __future__ import annotations

import argparse
import base64
import os
import shlex
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from kubernetes import client

from testbed import ControlPlane, api_client
from testbed.processes import free_port, peak_rss_mib

NAMESPACE = "releases"


def measure(argv: list[str], metrics_port: int, secrets: int, log: Path) -> tuple[float, float]:
    """Peak RSS in MiB, and seconds until every Secret was cached."""
    started = time.monotonic()
    with log.open("w") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    listed = f'reactivejob_operator_cache_objects{{kind="Secret"}} {float(secrets)}'
    try:
        while time.monotonic() - started < 600:
            if process.poll() is not None:
                raise RuntimeError(f"the operator exited {process.returncode}: see {log}")
            try:
                url = f"http://127.0.0.1:{metrics_port}/metrics"
                with urllib.request.urlopen(url, timeout=5) as answer:
                    if listed in answer.read().decode():
                        return peak_rss_mib(process.pid), time.monotonic() - started
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError("the Secrets were not all cached within 600 s")
    finally:
        process.terminate()
        process.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--secrets", type=int, default=600)
    parser.add_argument("--kib", type=int, default=900, help="data size of each Secret")
    parser.add_argument("--compare", help="another operator command, for a paired figure")
    args = parser.parse_args()
    with ControlPlane(controllers=()) as plane, tempfile.TemporaryDirectory() as logs:
        api = api_client(plane.kubeconfig)
        core = client.CoreV1Api(api)
        core.create_namespace(client.V1Namespace(metadata={"name": NAMESPACE}))
        blob = base64.b64encode(os.urandom(args.kib * 1024 * 3 // 4)).decode()
        for index in range(args.secrets):
            core.create_namespaced_secret(
                NAMESPACE,
                client.V1Secret(
                    metadata=client.V1ObjectMeta(name=f"release-{index}"), data={"release": blob}
                ),
            )
        print(f"{args.secrets} Secrets of {args.kib} KiB in namespace {NAMESPACE}")
        runs = {"this checkout": ""}
        if args.compare:
            runs["compared"] = args.compare
        for label, command in runs.items():
            port, metrics = free_port(), free_port()
            flags = [
                f"--health-probe-bind-address=127.0.0.1:{port}",
                f"--metrics-bind-address=127.0.0.1:{metrics}",
                "--config-triggers",
            ]
            if command:
                filled = command.format(kubeconfig=plane.kubeconfig, namespace=NAMESPACE)
                argv = [*shlex.split(filled), *flags]
            else:
                login = [f"--kubeconfig={plane.kubeconfig}", f"--namespace={NAMESPACE}"]
                argv = [sys.executable, "-m", "reactivejob", "run", *login, *flags]
            peak, took = measure(argv, metrics, args.secrets, Path(logs) / f"{len(label)}.log")
            print(f"{label}: peak RSS {peak:.0f} MiB, every Secret cached after {took:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

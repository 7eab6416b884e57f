"""``reactivejob-controlplane``: a throwaway Kubernetes API on loopback, until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from .binaries import ensure_all_built
from .cluster import ControlPlane
from .errors import ControlPlaneError
from .versions import ETCD, KUBE_APISERVER, KUBE_CONTROLLER_MANAGER, NODE_TOOLS, TEST_TOOLS


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so ``with`` blocks stop the control plane and clean up."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reactivejob-controlplane", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start etcd, kube-apiserver and kube-controller-manager")
    run.add_argument("--port", type=int, help="kube-apiserver port (default: a free one)")
    run.add_argument(
        "--node",
        action="store_true",
        help="also a real node (containerd, kubelet, scheduler, proxy; root, one per machine)",
    )
    load = sub.add_parser("load-image", help="import an OCI archive into the running node")
    load.add_argument("archive", type=Path)
    sub.add_parser("down", help="put the host back after a node that was killed")
    build = sub.add_parser("build", help="build (or find cached) binaries and print their paths")
    build.add_argument(
        "--with",
        dest="extra",
        action="append",
        default=[],
        choices=[*sorted(TEST_TOOLS), "node"],
        help="also build this tool the tests drive (repeatable); node: the real node's",
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            tools = [ETCD, KUBE_APISERVER, KUBE_CONTROLLER_MANAGER]
            tools += [TEST_TOOLS[name] for name in args.extra if name != "node"]
            tools += list(NODE_TOOLS) if "node" in args.extra else []
            for path in ensure_all_built(tools):
                print(path)
            return 0
        # The node's module only when a node is asked for: the control plane needs none of it.
        from .node.node import (  # noqa: PLC0415
            RealCluster,
            load_image,
            restore_left_behind,
            running_node_socket,
        )

        if args.command == "load-image":
            load_image(running_node_socket(), args.archive)
            return 0
        if args.command == "down":
            print("restored" if restore_left_behind() else "no node was left behind")
            return 0
        exit_on_sigterm()
        if args.node:
            with RealCluster() as cluster:
                print(
                    f"node ready in {cluster.timings['up']:.1f}s at {cluster.control_plane.server}"
                )
                print(f"export KUBECONFIG={cluster.control_plane.kubeconfig}")
                print(
                    "Ctrl-C deletes every Pod, stops the node and puts the host back.", flush=True
                )
                threading.Event().wait()
        with ControlPlane(api_port=args.port) as control_plane:
            seconds = control_plane.startup_seconds
            print(f"control plane ready in {seconds:.1f}s at {control_plane.server}")
            print(f"export KUBECONFIG={control_plane.kubeconfig}")
            print("Ctrl-C stops it and removes every file it made.", flush=True)
            threading.Event().wait()
    except ControlPlaneError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

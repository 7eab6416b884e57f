"""``reactivejob-operator run``: the operator, against a kubeconfig or from inside a Pod."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import kopf
from reactivejob_api import Connection

from .operator import Options, Runtime, WebhookOptions, build_registry


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="reactivejob-operator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the operator until SIGTERM or Ctrl-C")
    run.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, else $KUBECONFIG)")
    run.add_argument("--context", help="kubeconfig context")
    scope = run.add_mutually_exclusive_group()
    scope.add_argument(
        "-n", "--namespace", action="append", default=[], help="watch this namespace (repeatable)"
    )
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace")
    run.add_argument(
        "--liveness",
        default="http://0.0.0.0:8080/healthz",
        help="liveness endpoint URL, or 'none' (default: %(default)s)",
    )
    run.add_argument("--workers", type=int, default=4, help="concurrent reconciles")
    run.add_argument(
        "--webhook-cert-dir",
        type=Path,
        help="serve the validating webhook with tls.crt and tls.key from this folder "
        "(re-read when they change)",
    )
    run.add_argument("--webhook-port", type=int, default=9443)
    run.add_argument("--webhook-bind-address", default="0.0.0.0")
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    run.add_argument("--log-format", default="text", choices=["text", "json"])
    args = parser.parse_args(argv)
    if not args.namespace and not args.all_namespaces:
        parser.error(
            "say which namespaces to watch: --namespace NS (repeatable) or --all-namespaces"
        )
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    kopf.configure(
        debug=args.log_level == "DEBUG",
        verbose=args.log_level in ("DEBUG", "INFO"),
        log_format=kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.FULL,
    )
    logging.getLogger().setLevel(args.log_level)
    # One line per API call is noise even at DEBUG; our own logs say what was done and why.
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    if args.kubeconfig or args.context:
        connection = Connection.from_kubeconfig(args.kubeconfig, args.context)
    else:
        connection = Connection.auto()
    webhook = None
    if args.webhook_cert_dir:
        folder = args.webhook_cert_dir
        missing = [f for f in ("tls.crt", "tls.key") if not (folder / f).is_file()]
        if missing:
            print(
                f"error: --webhook-cert-dir {folder} has no {' or '.join(missing)}", file=sys.stderr
            )
            return 2
        webhook = WebhookOptions(
            args.webhook_cert_dir, args.webhook_port, args.webhook_bind_address
        )
    runtime = Runtime(Options(connection=connection, workers=args.workers, webhook=webhook))
    # kopf.run installs SIGTERM/SIGINT handlers: on either, watches stop, cleanup handlers run
    # (workers are cancelled between API calls) and the process exits 0.
    kopf.run(
        registry=build_registry(webhook=webhook is not None),
        memo=SimpleNamespace(runtime=runtime),
        clusterwide=args.all_namespaces,
        namespaces=args.namespace,
        standalone=True,
        liveness_endpoint=None if args.liveness == "none" else args.liveness,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

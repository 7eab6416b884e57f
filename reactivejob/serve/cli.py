"""``reactivejob-operator run``: the operator, against a kubeconfig or from inside a Pod.

Flag names follow the Go operator (controller-runtime) where they overlap, so Deployments and
Helm values written for it keep working.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import kopf

from reactivejob.engine.elector import LeaderElection
from reactivejob.engine.manager import DEFAULT_WORKERS, Options
from reactivejob_api import Connection

from .kopf_adapter import Process, ServeOptions, WebhookOptions, build_registry, configure
from .probes import parse_address


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
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help="concurrent reconciles (default: %(default)s)",
    )
    run.add_argument(
        "--config-triggers",
        action="store_true",
        help="watch ConfigMaps and Secrets, so that objects with spec.rerunOnConfigChange re-run "
        "when what they read changes (needs get, list, watch on both)",
    )
    run.add_argument(
        "--config-hash-key-file",
        type=Path,
        help="key the config hash (HMAC) with this file's content, so that the hash published on "
        "Jobs and in status cannot be tried against guessed Secret values offline",
    )
    run.add_argument(
        "--kueue",
        action="store_true",
        help="watch Kueue's Workloads (kueue.x-k8s.io/v1beta2), so that the status tells a queued "
        "run from an admitted or evicted one (needs get, list, watch on workloads)",
    )
    run.add_argument(
        "--kueue-manages-all-jobs",
        action="store_true",
        help="Kueue runs with manageJobsWithoutQueueName: every Job is queued, so run control "
        "never writes spec.suspend and holds a run by not creating its Job",
    )
    run.add_argument(
        "--health-probe-bind-address",
        default=":8081",
        help="serves /healthz and /readyz; 0 disables (default: %(default)s)",
    )
    run.add_argument(
        "--metrics-bind-address",
        default=":8080",
        help="serves Prometheus /metrics; 0 disables (default: %(default)s)",
    )
    run.add_argument(
        "--metrics-secure",
        action="store_true",
        help="serve /metrics over HTTPS (with --metrics-cert-dir) and only to callers whose "
        "token the API server accepts and who may get /metrics (TokenReview, "
        "SubjectAccessReview)",
    )
    run.add_argument(
        "--metrics-cert-dir",
        type=Path,
        help="tls.crt and tls.key for /metrics with --metrics-secure (re-read when they change)",
    )
    run.add_argument(
        "--webhook-cert-dir",
        type=Path,
        help="serve the validating webhook with tls.crt and tls.key from this folder "
        "(re-read when they change)",
    )
    run.add_argument("--webhook-port", type=int, default=9443)
    run.add_argument(
        "--webhook-bind-address",
        default="",
        help="empty (the default), 0.0.0.0 or :: : every interface, IPv6 and IPv4",
    )
    run.add_argument(
        "--leader-elect", action="store_true", help="hold a Lease before reconciling (replicas > 1)"
    )
    run.add_argument(
        "--leader-election-namespace",
        default=os.environ.get("POD_NAMESPACE"),
        help="where the Lease lives (default: $POD_NAMESPACE)",
    )
    run.add_argument("--leader-election-id", default=LeaderElection.name)
    run.add_argument("--lease-duration", type=float, default=LeaderElection.lease_duration)
    run.add_argument("--renew-deadline", type=float, default=LeaderElection.renew_deadline)
    run.add_argument("--retry-period", type=float, default=LeaderElection.retry_period)
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    run.add_argument("--log-format", default="text", choices=["text", "json"])
    args = parser.parse_args(argv)
    if not args.namespace and not args.all_namespaces:
        parser.error(
            "say which namespaces to watch: --namespace NS (repeatable) or --all-namespaces"
        )
    if args.leader_elect and not args.leader_election_namespace:
        parser.error("--leader-elect needs --leader-election-namespace (or $POD_NAMESPACE)")
    if args.config_hash_key_file is not None:
        try:
            key = args.config_hash_key_file.read_bytes().strip()
        except OSError as error:
            parser.error(f"--config-hash-key-file: {error.strerror}: {error.filename}")
        if len(key) < 32:
            parser.error(f"--config-hash-key-file {args.config_hash_key_file}: the key must be at "
                         "least 32 bytes")  # fmt: skip
        args.config_hash_key = key
    if args.metrics_secure and args.metrics_cert_dir is None:
        parser.error("--metrics-secure needs --metrics-cert-dir (tls.crt and tls.key)")
    if args.webhook_cert_dir:
        missing = [f for f in ("tls.crt", "tls.key") if not (args.webhook_cert_dir / f).is_file()]
        if missing:
            parser.error(
                f"--webhook-cert-dir {args.webhook_cert_dir} lacks {' and '.join(missing)}"
            )
    return args


def options_from(args: argparse.Namespace) -> ServeOptions:
    if args.kubeconfig or args.context:
        connection = Connection.from_kubeconfig(args.kubeconfig, args.context)
    else:
        connection = Connection.auto()
    webhook = None
    if args.webhook_cert_dir:
        webhook = WebhookOptions(
            args.webhook_cert_dir, args.webhook_port, args.webhook_bind_address
        )
    election = None
    if args.leader_elect:
        identity = _own_identity()
        election = LeaderElection(
            namespace=args.leader_election_namespace,
            name=args.leader_election_id,
            identity=f"{identity}_{uuid.uuid4()}",  # unique even if two share a host name
            lease_duration=args.lease_duration,
            renew_deadline=args.renew_deadline,
            retry_period=args.retry_period,
        )
    manager = Options(
        connection=connection,
        namespaces=tuple(args.namespace),
        workers=args.workers,
        leader_election=election,
        config_triggers=args.config_triggers,
        config_hash_key=getattr(args, "config_hash_key", None),
        kueue=args.kueue,
        kueue_manages_all=args.kueue_manages_all_jobs,
    )
    return ServeOptions(
        manager,
        webhook=webhook,
        health_address=parse_address(args.health_probe_bind_address),
        metrics_address=parse_address(args.metrics_bind_address),
        metrics_cert_dir=args.metrics_cert_dir if args.metrics_secure else None,
    )


def _own_identity() -> str:
    return os.environ.get("POD_NAME") or socket.gethostname()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    kopf.configure(
        debug=args.log_level == "DEBUG",
        verbose=args.log_level in ("DEBUG", "INFO"),
        log_format=kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.FULL,
    )
    logging.getLogger().setLevel(args.log_level)
    # One line per API call is noise even at DEBUG; our own logs say what was done and why.
    for chatty in ("httpx", "httpcore", "aiohttp.access"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    options = options_from(args)
    process = Process(options)
    # Settled before kopf starts any task, not in a startup handler that runs after some.
    settings = kopf.OperatorSettings()
    configure(settings, options.webhook)
    # kopf.run installs SIGTERM/SIGINT handlers: on either, watches stop, cleanup handlers run
    # (workers are cancelled between API calls, the Lease is released) and the process exits 0.
    kopf.run(
        registry=build_registry(process),
        clusterwide=args.all_namespaces,
        namespaces=args.namespace,
        standalone=True,
        ready_flag=process.kopf_ready,
        settings=settings,
        # Given, so kopf never asks the system for a user name: the image runs as uid 65532
        # with no passwd entry, where getpass.getuser() raises. (kopf's Identity is a NewType
        # of str that it does not export.)
        identity=cast(Any, _own_identity()),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

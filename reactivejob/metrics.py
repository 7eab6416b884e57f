"""Prometheus metrics, named by Prometheus conventions (prefix, unit suffix, _total counters)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

RECONCILES = Counter(
    "reactivejob_operator_reconciles_total",
    "Reconciles of ReactiveJobs, by result: success, requeue (asked to look again), error.",
    ["result"],
    registry=REGISTRY,
)
JOBS_CREATED = Counter(
    "reactivejob_operator_jobs_created_total",
    "Jobs created for ReactiveJobs.",
    registry=REGISTRY,
)
RECONCILE_DURATION = Histogram(
    "reactivejob_operator_reconcile_duration_seconds",
    "Wall time of one reconcile: reads, decision and writes.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
BACKLOG = Gauge(
    "reactivejob_operator_workqueue_depth",
    "ReactiveJobs waiting to be reconciled.",
    registry=REGISTRY,
)
LEADER = Gauge(
    "reactivejob_operator_leader",
    "1 while this replica holds the leader Lease (or leader election is off), else 0.",
    registry=REGISTRY,
)


def exposition() -> bytes:
    return generate_latest(REGISTRY)

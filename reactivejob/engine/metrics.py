"""Prometheus metrics, named by Prometheus conventions (prefix, unit suffix, _total counters).

The work queue's metrics use client-go's names (workqueue_*, labelled by queue ``name``), so
dashboards built for controller-runtime operators read ours unchanged.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)
_SECONDS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60)

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
    "Wall time of one reconcile: cache reads, decision and writes.",
    buckets=_SECONDS,
    registry=REGISTRY,
)
RUNS_FINISHED = Counter(
    "reactivejob_operator_runs_finished_total",
    "Runs whose newest Job the operator saw finish, by result: Succeeded or Failed.",
    ["result"],
    registry=REGISTRY,
)
LEADER = Gauge(
    "reactivejob_operator_leader",
    "1 while this replica holds the leader Lease (or leader election is off), else 0.",
    registry=REGISTRY,
)

# The caches (reactivejob.informer)
CACHED_OBJECTS = Gauge(
    "reactivejob_operator_cache_objects",
    "Objects held in the watch-fed cache, by kind.",
    ["kind"],
    registry=REGISTRY,
)
RELISTS = Counter(
    "reactivejob_operator_cache_relists_total",
    "Full lists after a watch expired (410), by kind; the first list is not counted.",
    ["kind"],
    registry=REGISTRY,
)
WATCH_RESTARTS = Counter(
    "reactivejob_operator_watch_restarts_total",
    "Watches that failed (connection lost, server error) and were retried, by kind.",
    ["kind"],
    registry=REGISTRY,
)
EVENTS_DROPPED = Counter(
    "reactivejob_operator_events_dropped_total",
    "Kubernetes Events not posted because the recorder's queue was full or the server refused.",
    registry=REGISTRY,
)

# The work queue, in client-go's names
WORKQUEUE_DEPTH = Gauge(
    "workqueue_depth", "Current depth of the work queue.", ["name"], registry=REGISTRY
)
WORKQUEUE_ADDS = Counter(
    "workqueue_adds_total", "Adds handled by the work queue.", ["name"], registry=REGISTRY
)
WORKQUEUE_RETRIES = Counter(
    "workqueue_retries_total", "Retries (backoff) handled by the work queue.", ["name"],
    registry=REGISTRY,
)  # fmt: skip
WORKQUEUE_WAIT = Histogram(
    "workqueue_queue_duration_seconds",
    "How long a key stays in the work queue before it is worked on.",
    ["name"],
    buckets=_SECONDS,
    registry=REGISTRY,
)
WORKQUEUE_WORK = Histogram(
    "workqueue_work_duration_seconds",
    "How long working on one key takes.",
    ["name"],
    buckets=_SECONDS,
    registry=REGISTRY,
)


def exposition() -> bytes:
    return generate_latest(REGISTRY)


# Every labelled series exists from the start, at 0: an alert on increase() then sees the first
# failure after a restart, and a dashboard shows 0 rather than "no data".
for _result in ("Succeeded", "Failed"):
    RUNS_FINISHED.labels(_result)
for _result in ("success", "requeue", "error"):
    RECONCILES.labels(_result)

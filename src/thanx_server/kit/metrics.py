"""Prometheus instruments every process keeps, and the exposition of them.

What a process counts lives here (requests, rate-limit refusals, issuance job and chunk times,
database connections in use); what the database knows (jobs by state, oldest queued job) is read
at scrape time by the ``metrics`` feature and added beside these.

Several processes: with ``PROMETHEUS_MULTIPROC_DIR`` set (before the process starts; ``thanx-server
serve --workers N`` sets one up itself), prometheus-client keeps each process's values in files
there and a scrape of any process sums them all (``multiprocess`` mode, README "Operations").
Without it, each process reports its own.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
CONTENT_TYPE = CONTENT_TYPE_LATEST

# Milliseconds to seconds: a hot read is ~1-5 ms, a write ~5-50 ms, a slow dependency up to 10 s.
_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "thanx_http_requests",
    "HTTP requests answered, by operation id (or 'unmatched'), method and status code.",
    ["operation", "method", "status"],
)
HTTP_DURATION = Histogram(
    "thanx_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by operation id.",
    ["operation"],
    buckets=_LATENCY,
)
# The labelled series of each (operation, method, status) seen, looked up once: prometheus-client's
# ``labels()`` checks, stringifies and locks on every call, the half of what counting a request
# cost (measured, docs/PERFORMANCE.md issue 17). Bounded by the routes, methods and statuses.
_REQUEST_SERIES: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def observe_request(operation: str, method: str, status: int, seconds: float) -> None:
    """Count one answered request and its duration."""
    key = (operation, method, status)
    series = _REQUEST_SERIES.get(key)
    if series is None:
        series = _REQUEST_SERIES[key] = (
            HTTP_REQUESTS.labels(operation, method, str(status)),
            HTTP_DURATION.labels(operation),
        )
    series[0].inc()
    series[1].observe(seconds)


RATE_LIMIT_REFUSALS = Counter(
    "thanx_rate_limit_refusals",
    "Requests refused with 429, by the window that refused them.",
    ["window"],
)
ISSUANCE_JOB_DURATION = Histogram(
    "thanx_issuance_job_duration_seconds",
    "Time a worker spent on an issuance job, from claim to completion.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
ISSUANCE_CHUNK_DURATION = Histogram(
    "thanx_issuance_chunk_duration_seconds",
    "Time one chunk of an issuance job took (its statements and commit).",
    buckets=_LATENCY,
)
DB_CONNECTIONS_IN_USE = Gauge(
    "thanx_db_connections_in_use",
    "Database connections checked out of the pool (summed over live processes).",
    multiprocess_mode="livesum",
)


def count_connections(engine: AsyncEngine) -> None:
    """Keep ``DB_CONNECTIONS_IN_USE`` with ``engine``'s pool (servers and workers call this; the
    CLI does not, so its commands do not import prometheus-client)."""
    pool = engine.sync_engine.pool
    if not event.contains(pool, "checkout", _checked_out):  # one app per engine, tests many
        event.listen(pool, "checkout", _checked_out)
        event.listen(pool, "checkin", _checked_in)


def _checked_out(*_: object) -> None:
    DB_CONNECTIONS_IN_USE.inc()


def _checked_in(*_: object) -> None:
    DB_CONNECTIONS_IN_USE.dec()


def exposition(snapshot: Collector | None = None) -> bytes:
    """The text a scrape receives: every process's instruments, then ``snapshot``'s metrics."""
    if MULTIPROCESS_DIR is not None:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    if snapshot is not None:
        extra = CollectorRegistry()
        extra.register(snapshot)
        text += generate_latest(extra)
    return text


def forget_this_process() -> None:
    """Drop this process's live gauges on a clean exit (multiprocess mode). A process killed
    with SIGKILL leaves its last values until the directory is emptied at the next start."""
    if MULTIPROCESS_DIR is not None:
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]

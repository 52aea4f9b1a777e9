"""The Deployments page's live figures: per-deployment rates and latency quantiles from the data plane's
Prometheus metrics, sampled when a page asks (never while nobody looks) at most once per `interval_s`.

A sample is the counters' and histograms' totals at one moment; the difference between two samples is a
second's traffic, which gives req/s, errors/s, the mean batch size and p50/p99 latency (interpolated in
the histogram's bucket, as Prometheus' histogram_quantile does). Reading the metrics costs some
microseconds per deployment, once per interval however many pages are open.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modelplane.serving.metrics import ServingMetrics

_OK_STATUSES = frozenset(("200", "OK"))
_REJECTED = frozenset(("429", "503", "RESOURCE_EXHAUSTED", "UNAVAILABLE"))


@dataclass
class _Totals:
    """One deployment's cumulative figures at one moment."""

    requests: float = 0.0
    errors: float = 0.0
    rejected: float = 0.0
    latency_count: float = 0.0
    latency_buckets: dict[float, float] = field(default_factory=dict)  # upper bound -> cumulative count
    batches: float = 0.0
    batch_rows: float = 0.0
    queue_depth: float = 0.0
    in_flight: float = 0.0


@dataclass(frozen=True)
class Point:
    """One interval of one deployment."""

    t: float  # unix seconds at the interval's end
    rps: float
    errors_per_s: float
    rejected_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    batch_size: float | None
    queue_depth: float
    in_flight: float

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


class LiveSampler:
    """Keeps the last `keep` points of every deployment; thread-safe."""

    def __init__(
        self,
        metrics: ServingMetrics,
        *,
        interval_s: float = 1.0,
        keep: int = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._metrics = metrics
        self._interval = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last: tuple[float, dict[str, _Totals]] | None = None
        self._points: dict[str, deque[Point]] = defaultdict(lambda: deque(maxlen=keep))

    def points(self, deployment: str) -> list[Point]:
        self.sample()
        with self._lock:
            return list(self._points.get(deployment, ()))

    def latest(self, deployment: str) -> Point | None:
        found = self.points(deployment)
        return found[-1] if found else None

    def sample(self) -> None:
        """Take a sample if the last is at least one interval old."""
        now = self._clock()
        with self._lock:
            if self._last is not None and now - self._last[0] < self._interval * 0.9:
                return
            totals = self._read()
            if self._last is not None:
                then, before = self._last
                for name, current in totals.items():
                    self._points[name].append(_point(now, now - then, before.get(name, _Totals()), current))
            self._last = (now, totals)

    def _read(self) -> dict[str, _Totals]:
        totals: dict[str, _Totals] = defaultdict(_Totals)
        metrics = self._metrics
        requests, latency, batches, depth, in_flight = metrics.snapshot(
            metrics.requests,
            metrics.request_seconds,
            metrics.batch_size,
            metrics.queue_depth,
            metrics.in_flight,
        )
        for (deployment, _version, _protocol, status), count in requests.items():
            entry = totals[deployment]
            entry.requests += count
            if status in _REJECTED:
                entry.rejected += count
            elif status not in _OK_STATUSES:
                entry.errors += count
        bounds = (*metrics.request_seconds.bounds, float("inf"))
        for (deployment, *_rest), observed in latency.items():
            entry = totals[deployment]
            cumulative = 0.0
            for bound, count in zip(bounds, observed.counts, strict=True):
                cumulative += count
                entry.latency_buckets[bound] = entry.latency_buckets.get(bound, 0.0) + cumulative
            entry.latency_count += cumulative
        for (deployment, _version), observed in batches.items():
            entry = totals[deployment]
            entry.batches += sum(observed.counts)
            entry.batch_rows += observed.total
        for (deployment, _version), value in depth.items():
            totals[deployment].queue_depth += value
        for (deployment, _version), value in in_flight.items():
            totals[deployment].in_flight += value
        return dict(totals)


def _point(now: float, seconds: float, before: _Totals, after: _Totals) -> Point:
    seconds = max(seconds, 1e-9)
    batches = after.batches - before.batches
    buckets = {
        bound: count - before.latency_buckets.get(bound, 0.0)
        for bound, count in after.latency_buckets.items()
    }
    return Point(
        t=round(now, 3),
        rps=(after.requests - before.requests) / seconds,
        errors_per_s=(after.errors - before.errors) / seconds,
        rejected_per_s=(after.rejected - before.rejected) / seconds,
        p50_ms=_quantile(0.5, buckets),
        p99_ms=_quantile(0.99, buckets),
        batch_size=(after.batch_rows - before.batch_rows) / batches if batches > 0 else None,
        queue_depth=after.queue_depth,
        in_flight=after.in_flight,
    )


def _quantile(q: float, cumulative: dict[float, float]) -> float | None:
    """The q-quantile in milliseconds from cumulative bucket counts, linear within the bucket it falls in."""
    bounds = sorted(cumulative)
    if not bounds or cumulative[bounds[-1]] <= 0:
        return None
    rank = q * cumulative[bounds[-1]]
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = cumulative[bound]
        if count >= rank:
            if bound == float("inf"):
                return lower_bound * 1000
            share = (rank - lower_count) / (count - lower_count) if count > lower_count else 1.0
            return (lower_bound + (bound - lower_bound) * share) * 1000
        lower_bound, lower_count = bound, count
    return lower_bound * 1000


READY, UNLOADED, NOT_LOADED = "ready", "unloaded", "not loaded"


class ServedDeployments:
    """What the data plane beside the console serves now, read from its model manager (no store query):
    a deployment is `ready` once a route serves it, `unloaded` when taken off this server by the
    repository API, else `not loaded` (still loading, or its load failed: the server's log says why)."""

    def __init__(self, manager: Any) -> None:
        self._manager = manager

    def health(self, deployment: str) -> str:
        if deployment in self._manager.deployments() or deployment in self._manager.residency.parked:
            return READY  # a deployment the memory budget unloaded answers too: its request loads it
        if deployment in set(self._manager.unloaded):
            return UNLOADED
        return NOT_LOADED

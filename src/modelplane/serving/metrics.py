"""Prometheus metrics for the data plane: requests, batches, queues, and the process itself.

One `ServingMetrics` owns one registry, so tests (and several servers in one process) do not share
counters. The hot path calls `observe_*` once per request or batch; the families it writes are plain
numbers under one lock, rendered when scraped (`serving.hot_metrics`); the rest are prometheus_client's.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Sequence
from typing import Any

from prometheus_client import (
    GC_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from modelplane.serving.hot_metrics import Family, HistogramFamily, HotCollector, counter, gauge

# The text format `generate_latest` writes; every Prometheus version accepts it (1.0.0 needs 3.x).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Inference is ms-scale: resolve 100 µs .. 10 s.
LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
)
BATCH_BUCKETS = tuple(float(2**i) for i in range(11))  # 1, 2, 4, ..., 1024 rows

_VERSION = ("deployment", "version")
_PROTOCOL = (*_VERSION, "protocol")


class ServingMetrics:
    """The `modelplane_*` families on one registry; the per-request ones are `hot_metrics` families."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        if registry is None:
            registry = CollectorRegistry()
            ProcessCollector(registry=registry)  # CPU seconds, resident memory, open fds
            PlatformCollector(registry=registry)
            if GC_COLLECTOR is not None:
                GCCollector(registry=registry)
        self.registry = registry
        self._lock = threading.Lock()  # the hot families' values (one request's updates take it once)
        self.requests = counter(
            "modelplane_requests",
            "Inference requests answered, by status (HTTP code or gRPC status name).",
            [*_PROTOCOL, "status"],
        )
        self.request_seconds = HistogramFamily(
            "modelplane_request_seconds",
            "Inference request latency as the front end saw it (decode, queue, compute, encode).",
            _PROTOCOL,
            LATENCY_BUCKETS,
        )
        self.samples = counter(
            "modelplane_samples", "Rows (samples) answered by inference requests.", _PROTOCOL
        )
        self.batch_size = HistogramFamily(
            "modelplane_batch_size", "Rows per runtime call.", _VERSION, BATCH_BUCKETS
        )
        self.queue_seconds = HistogramFamily(
            "modelplane_queue_seconds",
            "Time a request waited in the batcher before its batch started.",
            _VERSION,
            LATENCY_BUCKETS,
        )
        self.compute_seconds = HistogramFamily(
            "modelplane_compute_seconds", "Runtime time per batch.", _VERSION, LATENCY_BUCKETS
        )
        self.queue_depth = gauge("modelplane_queue_depth", "Requests waiting in the batcher.", _VERSION)
        self.in_flight = gauge(
            "modelplane_in_flight", "Requests inside batches the runtime is computing.", _VERSION
        )
        self._hot: tuple[Family, ...] = (
            self.requests,
            self.request_seconds,
            self.samples,
            self.batch_size,
            self.queue_seconds,
            self.compute_seconds,
            self.queue_depth,
            self.in_flight,
        )
        registry.register(HotCollector(self._hot, self._lock))
        self.unknown_categories = Counter(
            "modelplane_unknown_categories",
            "Categorical values never seen in training (encoded as unknown), by input column.",
            [*_VERSION, "column"],
            registry=registry,
        )
        self.prediction_log_dropped = Counter(
            "modelplane_prediction_log_dropped",
            "Prediction log rows dropped (queue full, or the log directory unwritable); requests never are.",
            ["deployment"],
            registry=registry,
        )
        self.replicas = Gauge(
            "modelplane_replicas",
            "Replica processes serving a version (deployments with replicas or autoscaling).",
            _VERSION,
            registry=registry,
        )
        self.scale_events = Counter(
            "modelplane_scale_events",
            "Replica count changes, by direction (up, down) and cause (load, idle, start, failure).",
            [*_VERSION, "direction", "cause"],
            registry=registry,
        )
        self.resident_bytes = Gauge(
            "modelplane_deployment_resident_bytes",
            "Resident memory a deployment's loaded versions hold, as measured at load (0: unloaded by the "
            "memory budget until its next request).",
            ["deployment"],
            registry=registry,
        )
        self.memory_budget = Gauge(
            "modelplane_memory_budget_bytes",
            "The memory budget for loaded deployments (--memory-budget; 0: none).",
            registry=registry,
        )
        self.budget_unloads = Counter(
            "modelplane_budget_unloads",
            "Deployments unloaded by the memory budget to make room for another.",
            ["deployment"],
            registry=registry,
        )
        self._unknown: dict[tuple[str, str, str], Counter] = {}
        self._scaled: set[tuple[str, ...]] = set()  # replica and scale-event label sets, for `forget`

    def observe_request(
        self, deployment: str, version: str, protocol: str, status: int | str, seconds: float, samples: int
    ) -> None:
        key = (deployment, version, protocol)
        status_key = (deployment, version, protocol, str(status))
        with self._lock:
            requests = self.requests.series
            requests[status_key] = requests.get(status_key, 0.0) + 1
            self.request_seconds.observe(key, seconds)
            answered = self.samples.series
            answered[key] = answered.get(key, 0.0) + samples

    def observe_batch(
        self, deployment: str, version: str, size: int, queue_seconds: Sequence[float], compute_seconds: float
    ) -> None:
        key = (deployment, version)
        with self._lock:
            self.batch_size.observe(key, size)
            queued = self.queue_seconds
            for seconds in queue_seconds:
                queued.observe(key, seconds)
            self.compute_seconds.observe(key, compute_seconds)

    def observe_unknown(
        self, deployment: str, version: str, columns: Sequence[str], counts: Sequence[int]
    ) -> None:
        """Add each column's count of unseen categories (rows with none add nothing, so no series appears
        for a column until it first sees one)."""
        for column, count in zip(columns, counts, strict=True):
            if count:
                key = (deployment, version, column)
                counter = self._unknown.get(key)
                if counter is None:
                    counter = self._unknown[key] = self.unknown_categories.labels(*key)
                counter.inc(int(count))

    def observe_log_dropped(self, deployment: str, rows: int) -> None:
        self.prediction_log_dropped.labels(deployment).inc(rows)

    def set_queue(self, deployment: str, version: str, depth: int, in_flight: int) -> None:
        key = (deployment, version)
        self.queue_depth.series[key] = depth
        self.in_flight.series[key] = in_flight

    def set_replicas(self, deployment: str, version: str, count: int) -> None:
        self._scaled.add((deployment, version))
        self.replicas.labels(deployment, version).set(count)

    def observe_scale(self, deployment: str, version: str, direction: str, cause: str) -> None:
        self._scaled.add((deployment, version, direction, cause))
        self.scale_events.labels(deployment, version, direction, cause).inc()

    def set_memory_budget(self, limit_bytes: int) -> None:
        self.memory_budget.set(limit_bytes)

    def set_resident(self, deployment: str, size: int) -> None:
        self.resident_bytes.labels(deployment).set(size)

    def observe_budget_unload(self, deployment: str) -> None:
        self.budget_unloads.labels(deployment).inc()

    def forget_resident(self, deployment: str) -> None:
        """A deployment no longer served here: its size and unload count go with it."""
        for family in (self.resident_bytes, self.budget_unloads):
            with contextlib.suppress(KeyError):  # never set
                family.remove(deployment)

    def forget(self, deployment: str, version: str) -> None:
        """Drop every series of an undeployed version, so dashboards do not show it frozen forever."""
        key = (deployment, version)
        with self._lock:
            for family in self._hot:
                for series_key in [k for k in family.series if k[:2] == key]:
                    del family.series[series_key]
        for scale_key in [k for k in self._scaled if k[:2] == key]:
            self._scaled.discard(scale_key)
            if len(scale_key) == 2:
                self.replicas.remove(*key)
            else:
                self.scale_events.remove(*scale_key)
        for column_key in [k for k in self._unknown if k[:2] == key]:
            del self._unknown[column_key]
            self.unknown_categories.remove(*column_key)

    def snapshot(self, *families: Family) -> list[dict[tuple[str, ...], Any]]:
        """Copies of the hot families' series, taken together under their lock (the console's live view
        reads them this way: some microseconds, where a registry collection builds a sample per bucket)."""
        with self._lock:
            return [family.copy_series() for family in families]

    def render(self) -> tuple[bytes, str]:
        """The body and content type for `GET /metrics`."""
        return generate_latest(self.registry), CONTENT_TYPE


@functools.cache
def default_metrics() -> ServingMetrics:
    """The process-wide instance the server and the batchers share unless given their own."""
    return ServingMetrics()

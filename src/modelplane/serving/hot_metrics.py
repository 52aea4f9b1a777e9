"""Metric families written on every request: plain numbers, rendered only when `/metrics` is scraped.

prometheus_client's Counter and Histogram take a lock per value and walk the buckets in Python on each
observation: the per-request families cost ~9 µs a request that way, a few percent of a one-row request's
whole time at c=1. Here a request's observations are a handful of dict and list updates under one lock
(shared by the families of one `ServingMetrics`), and a collector turns them into the same exposition at
scrape time: the same names, labels and `le` bounds (`_created` series are not written).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

Key = tuple[str, ...]


class ScalarFamily:
    """Series by label values -> one number: a counter (added to under the owner's lock) or a gauge (set by
    one assignment, which needs no lock); `kind` picks how it is exposed."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        kind: type[CounterMetricFamily | GaugeMetricFamily],
    ) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, tuple(labelnames)
        self.kind = kind
        self.series: dict[Key, float] = {}

    def copy_series(self) -> dict[Key, float]:
        return dict(self.series)

    def render(self, series: dict[Key, float]) -> Metric:
        family = self.kind(self.name, self.documentation, labels=self.labelnames)
        for key, value in series.items():
            family.add_metric(key, value)
        return family


def counter(name: str, documentation: str, labelnames: Sequence[str]) -> ScalarFamily:
    return ScalarFamily(name, documentation, labelnames, CounterMetricFamily)


def gauge(name: str, documentation: str, labelnames: Sequence[str]) -> ScalarFamily:
    return ScalarFamily(name, documentation, labelnames, GaugeMetricFamily)


class HistogramSeries:
    """One label set's observations: a count per bucket (not cumulative; the last is +Inf) and the sum."""

    __slots__ = ("counts", "total")

    def __init__(self, buckets: int) -> None:
        self.counts = [0] * (buckets + 1)
        self.total = 0.0

    def copy(self) -> HistogramSeries:
        out = HistogramSeries(len(self.counts) - 1)
        out.counts, out.total = list(self.counts), self.total
        return out


class HistogramFamily:
    """Series by label values -> `HistogramSeries` over the upper bounds `bounds` (sorted, +Inf implied)."""

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str], bounds: Iterable[float]
    ) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, tuple(labelnames)
        self.bounds = tuple(float(b) for b in bounds)
        self.series: dict[Key, HistogramSeries] = {}
        self._le = [floatToGoString(b) for b in self.bounds] + ["+Inf"]

    def copy_series(self) -> dict[Key, HistogramSeries]:
        return {key: series.copy() for key, series in self.series.items()}

    def observe(self, key: Key, value: float) -> None:
        """Count `value` in the first bucket whose bound it does not exceed (Prometheus' `le`). Under the
        owner's lock."""
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = HistogramSeries(len(self.bounds))
        series.counts[bisect_left(self.bounds, value)] += 1
        series.total += value

    def render(self, series: dict[Key, HistogramSeries]) -> Metric:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for key, observed in series.items():
            cumulative, buckets = 0, []
            for le, count in zip(self._le, observed.counts, strict=True):
                cumulative += count
                buckets.append((le, float(cumulative)))
            family.add_metric(key, buckets, observed.total)
        return family


Family = ScalarFamily | HistogramFamily


class HotCollector(Collector):
    """Renders `families` for the registry; each scrape copies them under `lock`, then formats outside it."""

    def __init__(self, families: Sequence[Family], lock: Any) -> None:
        self.families = tuple(families)
        self.lock = lock

    def collect(self) -> Iterator[Metric]:
        with self.lock:
            copies = [family.copy_series() for family in self.families]
        for family, series in zip(self.families, copies, strict=True):
            yield family.render(series)  # type: ignore[arg-type]

    def describe(self) -> Iterator[Metric]:
        """The names without samples: registering it does not run a collection."""
        for family in self.families:
            yield family.render({})

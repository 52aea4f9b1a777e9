"""The live sampler: per-second rates and latency quantiles from the data plane's own metrics."""

from __future__ import annotations

import pytest

from modelplane.console.live import LiveSampler
from modelplane.serving.metrics import ServingMetrics


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rates_quantiles_batches_and_queue_over_one_interval() -> None:
    metrics, clock = ServingMetrics(), Clock()
    sampler = LiveSampler(metrics, interval_s=1.0, clock=clock)
    assert sampler.points("d") == []  # the first sample only sets the baseline
    for _ in range(90):
        metrics.observe_request("d", "m@1", "rest", 200, 0.002, 1)
    for _ in range(10):
        metrics.observe_request("d", "m@1", "rest", 200, 0.2, 1)
    metrics.observe_request("d", "m@1", "rest", 500, 0.001, 0)
    metrics.observe_request("d", "m@1", "grpc", "UNAVAILABLE", 0.001, 0)
    metrics.observe_batch("d", "m@1", 8, [0.0] * 8, 0.001)
    metrics.observe_batch("d", "m@1", 4, [0.0] * 4, 0.001)
    metrics.set_queue("d", "m@1", 3, 1)
    clock.now += 2.0
    (point,) = sampler.points("d")
    assert point.rps == pytest.approx(102 / 2)
    assert point.errors_per_s == pytest.approx(0.5) and point.rejected_per_s == pytest.approx(0.5)
    assert point.p50_ms is not None and 1.0 <= point.p50_ms <= 2.5  # in the (1 ms, 2.5 ms] bucket
    assert point.p99_ms is not None and 100 <= point.p99_ms <= 250
    assert point.batch_size == pytest.approx(6.0)
    assert point.queue_depth == 3 and point.in_flight == 1


def test_samples_at_most_once_per_interval_and_idle_intervals_are_zero() -> None:
    metrics, clock = ServingMetrics(), Clock()
    sampler = LiveSampler(metrics, interval_s=1.0, clock=clock)
    metrics.observe_request("d", "m@1", "rest", 200, 0.001, 1)
    sampler.sample()
    clock.now += 0.5
    assert sampler.points("d") == []  # too soon: no second sample
    clock.now += 0.6
    metrics.observe_request("d", "m@1", "rest", 200, 0.001, 1)
    clock.now += 1.0
    assert len(sampler.points("d")) == 1
    clock.now += 1.0
    idle = sampler.points("d")[-1]
    assert idle.rps == 0 and idle.p50_ms is None and idle.batch_size is None


def test_keeps_only_the_newest_points() -> None:
    metrics, clock = ServingMetrics(), Clock()
    sampler = LiveSampler(metrics, interval_s=1.0, keep=3, clock=clock)
    metrics.observe_request("d", "m@1", "rest", 200, 0.001, 1)
    for _ in range(6):
        sampler.sample()
        clock.now += 1.0
    assert len(sampler.points("d")) == 3

"""The per-request families are plain numbers rendered at scrape: what Prometheus reads must be what
prometheus_client's own Histogram and Counter would have written for the same observations."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from modelplane.serving.metrics import LATENCY_BUCKETS, ServingMetrics


def _samples(text: str, family: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for metric in text_string_to_metric_families(text):
        if metric.name == family:
            for sample in metric.samples:
                if not sample.name.endswith("_created"):
                    out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_histograms_render_as_prometheus_client_would_including_values_on_a_bound() -> None:
    ours = ServingMetrics()
    registry = CollectorRegistry()
    reference = Histogram(
        "modelplane_request_seconds",
        "x",
        ["deployment", "version", "protocol"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    seconds = [0.0001, 0.0003, 0.001, 0.0011, 2.5, 11.0, 0.0]  # on a bound, between, above the last
    for value in seconds:
        ours.observe_request("d", "1", "rest", 200, value, 1)
        reference.labels("d", "1", "rest").observe(value)
    expected = _samples(generate_latest(registry).decode(), "modelplane_request_seconds")
    assert _samples(ours.render()[0].decode(), "modelplane_request_seconds") == expected


def test_counters_and_gauges_by_label_set_and_a_forgotten_version_leaves_no_series() -> None:
    metrics = ServingMetrics()
    metrics.observe_request("d", "1", "rest", 200, 0.001, 3)
    metrics.observe_request("d", "1", "rest", 200, 0.001, 2)
    metrics.observe_request("d", "1", "grpc", "UNAVAILABLE", 0.001, 0)
    metrics.observe_request("e", "1", "rest", 200, 0.001, 1)
    metrics.observe_batch("d", "1", 5, [0.001, 0.002], 0.003)
    metrics.set_queue("d", "1", 4, 2)
    text = metrics.render()[0].decode()
    requests = _samples(text, "modelplane_requests")
    key = (("deployment", "d"), ("protocol", "rest"), ("status", "200"), ("version", "1"))
    assert requests[("modelplane_requests_total", key)] == 2
    grpc = (("deployment", "d"), ("protocol", "grpc"), ("status", "UNAVAILABLE"), ("version", "1"))
    assert requests[("modelplane_requests_total", grpc)] == 1
    rows = _samples(text, "modelplane_samples")
    assert (
        rows[("modelplane_samples_total", (("deployment", "d"), ("protocol", "rest"), ("version", "1")))] == 5
    )
    version = (("deployment", "d"), ("version", "1"))
    assert _samples(text, "modelplane_queue_seconds")[("modelplane_queue_seconds_count", version)] == 2
    assert _samples(text, "modelplane_queue_depth")[("modelplane_queue_depth", version)] == 4
    assert _samples(text, "modelplane_in_flight")[("modelplane_in_flight", version)] == 2

    metrics.forget("d", "1")
    after = metrics.render()[0].decode()
    assert 'deployment="d"' not in after
    assert 'deployment="e"' in after


def test_observations_from_several_threads_are_all_counted() -> None:
    metrics = ServingMetrics()
    per_thread = 20_000

    def observe() -> None:
        for _ in range(per_thread):
            metrics.observe_request("d", "1", "rest", 200, 0.001, 1)
            metrics.observe_batch("d", "1", 1, [0.0], 0.001)

    threads = [threading.Thread(target=observe) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    text = metrics.render()[0].decode()
    version = (("deployment", "d"), ("version", "1"))
    protocol = (("deployment", "d"), ("protocol", "rest"), ("version", "1"))
    assert (
        _samples(text, "modelplane_request_seconds")[("modelplane_request_seconds_count", protocol)] == 80_000
    )
    assert _samples(text, "modelplane_samples")[("modelplane_samples_total", protocol)] == 80_000
    assert _samples(text, "modelplane_batch_size")[("modelplane_batch_size_count", version)] == 80_000

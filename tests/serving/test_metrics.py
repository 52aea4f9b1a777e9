"""Serving metrics render in the Prometheus text format with the right names and labels."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from modelplane.serving.metrics import ServingMetrics, default_metrics


def families(metrics: ServingMetrics) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain; version=0.0.4")
    return {
        f.name: [(s.name, s.labels, s.value) for s in f.samples]
        for f in text_string_to_metric_families(body.decode())
    }


def test_requests_batches_and_queues_render_with_their_labels() -> None:
    metrics = ServingMetrics(CollectorRegistry())
    metrics.observe_request("digits", "3", "rest", 200, 0.004, samples=8)
    metrics.observe_request("digits", "3", "rest", 200, 0.002, samples=1)
    metrics.observe_request("digits", "3", "grpc", "UNAVAILABLE", 0.0001, samples=0)
    metrics.observe_batch("digits", "3", size=9, queue_seconds=[0.001, 0.0002], compute_seconds=0.003)
    metrics.set_queue("digits", "3", depth=5, in_flight=2)

    found = families(metrics)
    requests = {
        (s[1]["protocol"], s[1]["status"]): s[2]
        for s in found["modelplane_requests"]
        if s[0].endswith("_total")
    }
    assert requests == {("rest", "200"): 2.0, ("grpc", "UNAVAILABLE"): 1.0}
    rest = {"deployment": "digits", "version": "3", "protocol": "rest"}
    assert ("modelplane_samples_total", rest, 9.0) in found["modelplane_samples"]
    assert ("modelplane_request_seconds_count", rest, 2.0) in found["modelplane_request_seconds"]
    version = {"deployment": "digits", "version": "3"}
    batch = found["modelplane_batch_size"]
    assert ("modelplane_batch_size_bucket", {**version, "le": "8.0"}, 0.0) in batch
    assert ("modelplane_batch_size_bucket", {**version, "le": "16.0"}, 1.0) in batch
    assert ("modelplane_batch_size_bucket", {**version, "le": "1024.0"}, 1.0) in batch
    assert ("modelplane_queue_seconds_count", version, 2.0) in found["modelplane_queue_seconds"]
    assert ("modelplane_compute_seconds_sum", version, 0.003) in found["modelplane_compute_seconds"]
    assert ("modelplane_request_seconds_bucket", {**rest, "le": "0.0005"}, 0.0) in found[
        "modelplane_request_seconds"
    ]
    assert found["modelplane_queue_depth"] == [("modelplane_queue_depth", version, 5.0)]
    assert found["modelplane_in_flight"] == [("modelplane_in_flight", version, 2.0)]


def test_forget_removes_only_that_version() -> None:
    metrics = ServingMetrics(CollectorRegistry())
    for version in ("1", "2"):
        metrics.observe_request("digits", version, "rest", 200, 0.001, samples=1)
        metrics.observe_request("digits", version, "rest", 503, 0.001, samples=1)
        metrics.observe_batch("digits", version, size=1, queue_seconds=[0.0], compute_seconds=0.001)
        metrics.set_queue("digits", version, depth=0, in_flight=0)

    metrics.forget("digits", "1")
    metrics.forget("digits", "never-deployed")

    body = metrics.render()[0].decode()
    assert 'version="1"' not in body
    for name in (
        "requests_total",
        "request_seconds_count",
        "samples_total",
        "batch_size_count",
        "queue_depth",
    ):
        assert f'modelplane_{name}{{deployment="digits",' in body and 'version="2"' in body
    metrics.observe_request("digits", "1", "rest", 200, 0.001, samples=1)  # a redeploy starts from zero
    assert (
        metrics.registry.get_sample_value(
            "modelplane_requests_total",
            {"deployment": "digits", "version": "1", "protocol": "rest", "status": "200"},
        )
        == 1.0
    )


def test_a_fresh_instance_has_its_own_registry_with_process_metrics() -> None:
    a, b = ServingMetrics(), ServingMetrics()
    assert a.registry is not b.registry
    a.observe_request("m", "1", "rest", 200, 0.001, samples=1)
    assert "modelplane_requests_total" in a.render()[0].decode()
    assert "modelplane_requests_total{" not in b.render()[0].decode()
    assert "process_cpu_seconds_total" in a.render()[0].decode()
    assert default_metrics() is default_metrics()

"""The monitor's figures as Prometheus gauges, read from the stored windows at scrape time.

Monitor runs happen in job processes, so their figures cannot live in this process' registry; a collector
that reads the newest window of each served version (one indexed query, cached for a few seconds against
scrapes that come in bursts) shows the same numbers whichever server Prometheus scrapes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from modelplane.monitoring.alert_store import AlertRuleInfo, list_rules
from modelplane.monitoring.windows import WindowInfo, latest_windows
from modelplane.store import Store

CACHE_S = 5.0
# gauge name -> (window metric, help)
_PER_VERSION = {
    "modelplane_drift_share": ("drift", "Share of features whose drift test flagged the last window."),
    "modelplane_estimated_accuracy": ("estimated_accuracy", "Accuracy estimated from calibrated confidence."),
    "modelplane_live_accuracy": ("live_accuracy", "Accuracy on the last window's rows with feedback."),
    "modelplane_live_f1": ("live_f1", "Macro F1 on the last window's rows with feedback."),
    "modelplane_live_mae": ("live_mae", "Mean absolute error on the last window's rows with feedback."),
    "modelplane_live_rmse": ("live_rmse", "Root mean squared error on the last window's rows with feedback."),
    "modelplane_test_accuracy": ("test_accuracy", "The version's accuracy on its test split (registry)."),
    "modelplane_error_rate": ("error_rate", "Share of the last window's requests that failed."),
    "modelplane_window_p99_ms": ("p99_ms", "99th percentile request latency over the last window, ms."),
    "modelplane_window_requests": ("requests", "Requests in the last monitor window."),
}


class MonitorCollector(Collector):
    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._cached: tuple[float, list[WindowInfo], list[AlertRuleInfo]] | None = None

    def _read(self) -> tuple[list[WindowInfo], list[AlertRuleInfo]]:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] > CACHE_S:
                self._cached = (now, latest_windows(self.store), list_rules(self.store))
            return self._cached[1], self._cached[2]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        windows, rules = self._read()
        firing = GaugeMetricFamily(
            "modelplane_alert_firing", "1 while the alert rule fires, else 0.", labels=["deployment", "rule"]
        )
        for rule in rules:
            firing.add_metric([rule.deployment, str(rule.id)], 1.0 if rule.state == "firing" else 0.0)
        yield firing
        labels = ["deployment", "version"]
        for name, (key, about) in _PER_VERSION.items():
            family = GaugeMetricFamily(name, about, labels=labels)
            for window in windows:
                if key in window.metrics:
                    family.add_metric([window.deployment, window.version], window.metrics[key])
            yield family
        feature = GaugeMetricFamily(
            "modelplane_feature_drift",
            "Each feature's drift statistic over the last window (test: the one that decides).",
            labels=[*labels, "feature", "test"],
        )
        prediction = GaugeMetricFamily(
            "modelplane_prediction_drift",
            "Drift statistic of the model's outputs over the last window.",
            labels=[*labels, "test"],
        )
        for window in windows:  # the stored drift report (monitoring/drift.py DriftReport)
            for result in window.report.get("features") or []:
                labels_of = [window.deployment, window.version, result["feature"], result["test"]]
                feature.add_metric(labels_of, result["statistic"])
            answers = window.report.get("prediction")
            if answers:
                prediction.add_metric(
                    [window.deployment, window.version, answers["test"]], answers["statistic"]
                )
        yield feature
        yield prediction

"""Prometheus alerting rules and a Grafana dashboard for a deployment: the YAML parses, every PromQL names
a metric the platform exports, and a rule Prometheus cannot watch is reported rather than mistranslated."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import yaml
from prometheus_client import CollectorRegistry

from modelplane.monitoring.alert_export import MONITOR_GAUGES, export, to_promql
from modelplane.monitoring.alert_store import AlertRuleInfo
from modelplane.serving.metrics import ServingMetrics

_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
CONTRACT = {  # the gauges the metrics contract says the monitor job exports
    "modelplane_drift_share",
    "modelplane_feature_drift",
    "modelplane_prediction_drift",
    "modelplane_live_accuracy",
    "modelplane_live_f1",
    "modelplane_live_mae",
    "modelplane_live_rmse",
    "modelplane_estimated_accuracy",
    "modelplane_test_accuracy",
    "modelplane_error_rate",
    "modelplane_window_p99_ms",
    "modelplane_alert_firing",
}


def _exported() -> set[str]:
    registry = CollectorRegistry()
    ServingMetrics(registry)
    names = {f.name + s for f in registry.collect() for s in _SUFFIXES.get(f.type, ("",))}
    return names | MONITOR_GAUGES


def _rule(rule_id: int, text: str, windows: int = 1) -> AlertRuleInfo:
    at = datetime(2026, 12, 1, tzinfo=timezone.utc)
    return AlertRuleInfo(rule_id, "digits", text, windows, "user", "ok", 0, None, at, "alice")


def _metrics_named(expr: str) -> set[str]:
    return set(re.findall(r"\bmodelplane_[a-z0-9_]+", expr))


RULES = [
    _rule(1, "drift > 0.2 for 2 windows", 2),
    _rule(2, "live_accuracy < test_accuracy - 0.03"),
    _rule(3, "feature_drift.f12 >= 0.3"),
    _rule(4, "p99_ms > 100"),
    _rule(5, "p50_ms > 10"),  # no gauge carries p50_ms
]


def test_the_rules_yaml_parses_and_names_only_exported_metrics() -> None:
    assert CONTRACT == MONITOR_GAUGES
    made = export("digits", RULES, every_s=300)
    document = yaml.safe_load(made.rules_yaml)
    [group] = document["groups"]
    rules = {r["alert"]: r for r in group["rules"]}
    assert set(rules) == {
        "ModelplaneRule1",
        "ModelplaneRule2",
        "ModelplaneRule3",
        "ModelplaneRule4",
        "ModelplaneHighP99Latency",
        "ModelplaneHighErrorRate",
    }
    exported = _exported()
    for rule in group["rules"]:
        named = _metrics_named(rule["expr"])
        assert named and named <= exported, rule["expr"]
        assert 'deployment="digits"' in rule["expr"]
    assert rules["ModelplaneRule1"]["for"] == "300s" and rules["ModelplaneRule2"]["for"] == "0s"
    assert made.skipped == ["p50_ms > 10: no Prometheus gauge carries p50_ms"]


def test_a_rule_in_promql_compares_each_version_with_itself() -> None:
    assert to_promql("live_accuracy < test_accuracy - 0.03", "d") == (
        'max by (deployment, version) (modelplane_live_accuracy{deployment="d"}) < '
        'max by (deployment, version) (modelplane_test_accuracy{deployment="d"}) - 0.03'
    )
    assert to_promql("feature_drift.f12 >= 0.3", 'we"ird') == (
        'max by (deployment, version) (modelplane_feature_drift{deployment="we\\"ird",feature="f12"}) >= 0.3'
    )


def test_the_dashboard_has_the_panels_and_names_only_exported_metrics() -> None:
    dashboard = export("digits", RULES, every_s=300).dashboard
    titles = [p["title"] for p in dashboard["panels"]]
    assert titles == [
        "Requests per second",
        "Latency p50 / p99",
        "Errors per second",
        "Batch size (median)",
        "Queue depth",
        "Drifted features (share)",
        "Feature drift",
        "Accuracy: live, estimated, test",
        "Alerts firing",
    ]
    exported = _exported()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            assert _metrics_named(target["expr"]) <= exported and _metrics_named(target["expr"])
    assert len({p["id"] for p in dashboard["panels"]}) == len(titles)

"""A deployment's monitoring for an outside Prometheus and Grafana: alerting rules (its alert rules in PromQL
over the gauges the monitor job exports, plus latency and error-rate rules over the serving metrics) and a
dashboard.

A rule's window metric maps to the gauge of the same meaning (`drift` -> `modelplane_drift_share`, ...),
taken as `max by (deployment, version)` so every operand carries the same labels and `live_accuracy <
test_accuracy - 0.03` compares each version with itself, as the monitor job does. Metrics without a gauge
(`requests`, `p50_ms`, `test_f1`, ...) cannot be watched by Prometheus: such a rule is listed under
`skipped` with the reason, and still fires inside modelplane. `for:` is (windows - 1) x the monitor
interval: a gauge holding for N windows in a row has held for N - 1 intervals when the N-th is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from modelplane.monitoring.alert_rules import FEATURE_PREFIX, Expr, parse_rule
from modelplane.monitoring.alert_store import AlertRuleInfo

GAUGES: dict[str, str] = {
    "drift": "modelplane_drift_share",
    "prediction_drift": "modelplane_prediction_drift",
    "live_accuracy": "modelplane_live_accuracy",
    "live_f1": "modelplane_live_f1",
    "live_mae": "modelplane_live_mae",
    "live_rmse": "modelplane_live_rmse",
    "estimated_accuracy": "modelplane_estimated_accuracy",
    "test_accuracy": "modelplane_test_accuracy",
    "error_rate": "modelplane_error_rate",
    "p99_ms": "modelplane_window_p99_ms",
}
FEATURE_GAUGE = "modelplane_feature_drift"
FIRING_GAUGE = "modelplane_alert_firing"
# The monitoring gauges named in the window metrics contract (the monitor job exports them).
MONITOR_GAUGES = frozenset((*GAUGES.values(), FEATURE_GAUGE, FIRING_GAUGE))
P99_MS, ERROR_RATE, RATE_WINDOW = 500.0, 0.05, "5m"
_ERRORS = 'status!~"2..|OK"'  # HTTP 2xx and gRPC OK are answers; anything else failed


@dataclass(frozen=True)
class Export:
    rules_yaml: str
    dashboard: dict[str, Any]
    skipped: list[str] = field(default_factory=list)  # "rule: why" of rules Prometheus cannot watch


def _selector(deployment: str, extra: str = "") -> str:
    label = f"deployment={_quote(deployment)}"
    return "{" + (f"{label},{extra}" if extra else label) + "}"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _operand(name: str, deployment: str) -> str:
    if name.startswith(FEATURE_PREFIX):
        feature = name.removeprefix(FEATURE_PREFIX)
        series = f"{FEATURE_GAUGE}{_selector(deployment, f'feature={_quote(feature)}')}"
    elif name in GAUGES:
        series = f"{GAUGES[name]}{_selector(deployment)}"
    else:
        raise KeyError(name)
    return f"max by (deployment, version) ({series})"


def _expr(expr: Expr, deployment: str) -> str:
    parts = []
    for index, term in enumerate(expr.terms):
        text = _operand(term.operand, deployment) if isinstance(term.operand, str) else f"{term.operand:g}"
        if index == 0:
            parts.append(f"-{text}" if term.sign < 0 else text)
        else:
            parts.append(f"{'-' if term.sign < 0 else '+'} {text}")
    return " ".join(parts)


def to_promql(text: str, deployment: str) -> str:
    """The rule's condition in PromQL; KeyError names a metric that has no gauge."""
    rule = parse_rule(text)
    return f"{_expr(rule.left, deployment)} {rule.op} {_expr(rule.right, deployment)}"


def _duration(seconds: float) -> str:
    return f"{int(seconds)}s"


def prometheus_rules(
    deployment: str, rules: Sequence[AlertRuleInfo], every_s: float
) -> tuple[dict[str, Any], list[str]]:
    """The alerting rules document of one deployment, and the rules left out (with why)."""
    out: list[dict[str, Any]] = []
    skipped: list[str] = []
    for rule in rules:
        try:
            expr = to_promql(rule.text, deployment)
        except KeyError as missing:
            skipped.append(f"{rule.text}: no Prometheus gauge carries {missing.args[0]}")
            continue
        out.append(
            {
                "alert": f"ModelplaneRule{rule.id}",
                "expr": expr,
                "for": _duration((rule.for_windows - 1) * every_s),
                "labels": {"severity": "warning", "deployment": deployment, "rule": str(rule.id)},
                "annotations": {
                    "summary": f"{deployment}: {rule.text}",
                    "description": f"modelplane alert rule {rule.id} ({rule.origin}) holds on version "
                    "{{ $labels.version }}: value {{ $value }}",
                },
            }
        )
    requests = f"modelplane_requests_total{_selector(deployment)}"
    failed = f"modelplane_requests_total{_selector(deployment, _ERRORS)}"
    buckets = f"modelplane_request_seconds_bucket{_selector(deployment)}"
    out += [
        {
            "alert": "ModelplaneHighP99Latency",
            "expr": f"histogram_quantile(0.99, sum by (le, version) (rate({buckets}[{RATE_WINDOW}]))) "
            f"> {P99_MS / 1000:g}",
            "for": "5m",
            "labels": {"severity": "warning", "deployment": deployment},
            "annotations": {"summary": f"{deployment}: p99 latency above {P99_MS:g} ms"},
        },
        {
            "alert": "ModelplaneHighErrorRate",
            "expr": f"sum(rate({failed}[{RATE_WINDOW}])) / sum(rate({requests}[{RATE_WINDOW}])) "
            f"> {ERROR_RATE:g}",
            "for": "5m",
            "labels": {"severity": "critical", "deployment": deployment},
            "annotations": {"summary": f"{deployment}: more than {ERROR_RATE:.0%} of requests fail"},
        },
    ]
    return {"groups": [{"name": f"modelplane-{deployment}", "rules": out}]}, skipped


def _panel(index: int, title: str, targets: list[tuple[str, str]], unit: str = "short") -> dict[str, Any]:
    return {
        "id": index + 1,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": (index % 2) * 12, "y": (index // 2) * 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + n), "expr": expr, "legendFormat": legend}
            for n, (expr, legend) in enumerate(targets)
        ],
    }


def grafana_dashboard(deployment: str) -> dict[str, Any]:
    """Traffic, latency, errors, batching, drift, accuracy and alerts of one deployment."""
    sel, errors = _selector(deployment), _selector(deployment, _ERRORS)
    rate = f"[{RATE_WINDOW}]"
    latency = f"sum by (le, version) (rate(modelplane_request_seconds_bucket{sel}{rate}))"
    batch = f"sum by (le, version) (rate(modelplane_batch_size_bucket{sel}{rate}))"
    panels = [
        (
            "Requests per second",
            [(f"sum by (version) (rate(modelplane_requests_total{sel}{rate}))", "{{version}}")],
            "reqps",
        ),
        (
            "Latency p50 / p99",
            [
                (f"histogram_quantile(0.5, {latency})", "p50 {{version}}"),
                (f"histogram_quantile(0.99, {latency})", "p99 {{version}}"),
            ],
            "s",
        ),
        (
            "Errors per second",
            [
                (
                    f"sum by (status) (rate(modelplane_requests_total{errors}{rate}))",
                    "{{status}}",
                )
            ],
            "reqps",
        ),
        ("Batch size (median)", [(f"histogram_quantile(0.5, {batch})", "{{version}}")], "short"),
        ("Queue depth", [(f"sum by (version) (modelplane_queue_depth{sel})", "{{version}}")], "short"),
        ("Drifted features (share)", [(f"modelplane_drift_share{sel}", "{{version}}")], "percentunit"),
        ("Feature drift", [(f"{FEATURE_GAUGE}{sel}", "{{feature}} {{test}} {{version}}")], "short"),
        (
            "Accuracy: live, estimated, test",
            [
                (f"modelplane_live_accuracy{sel}", "live {{version}}"),
                (f"modelplane_estimated_accuracy{sel}", "estimated {{version}}"),
                (f"modelplane_test_accuracy{sel}", "test {{version}}"),
            ],
            "percentunit",
        ),
        ("Alerts firing", [(f"sum by (rule) ({FIRING_GAUGE}{sel})", "rule {{rule}}")], "short"),
    ]
    return {
        "title": f"modelplane: {deployment}",
        "uid": f"modelplane-{deployment}"[:40],
        "tags": ["modelplane"],
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "templating": {
            "list": [
                {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"}
            ]
        },
        "panels": [_panel(i, title, targets, unit) for i, (title, targets, unit) in enumerate(panels)],
    }


def export(deployment: str, rules: Sequence[AlertRuleInfo], every_s: float) -> Export:
    document, skipped = prometheus_rules(deployment, rules, every_s)
    header = (
        f"# Prometheus alerting rules of the modelplane deployment {deployment} (modelplane monitor export)\n"
    )
    text = header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=1000)
    return Export(text, grafana_dashboard(deployment), skipped)

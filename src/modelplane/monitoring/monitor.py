"""One monitor run: a deployment's last window of predictions turned into the metrics alerts and dashboards
read — traffic and errors, drift against the training data, accuracy estimated from confidence, live
accuracy from feedback — stored per served version, then the alert rules evaluated on them.

The monitor job (monitoring/job.py) runs it every `MonitoringSpec.every_s`; `modelplane monitor run` runs
it now.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from modelplane.errors import NotFound
from modelplane.monitoring.alert_eval import evaluate_alerts
from modelplane.monitoring.drift import drift_report
from modelplane.monitoring.estimate import estimated_accuracy
from modelplane.monitoring.live import live_metrics
from modelplane.monitoring.log_files import read_log
from modelplane.monitoring.profile import ensure_profile
from modelplane.monitoring.request_stats import answered, request_stats
from modelplane.monitoring.schema import VERSION, features_of, outputs_of
from modelplane.monitoring.windows import WindowInfo, save_windows
from modelplane.registry.registry import get_version
from modelplane.serving.deployments import DeploymentInfo, get_deployment, resolve
from modelplane.store import Store
from modelplane.store.orm import utcnow

log = logging.getLogger(__name__)


def run_monitor(
    store: Store, deployment: str, *, until: datetime | None = None, window: timedelta | None = None
) -> list[WindowInfo]:
    """Compute, store and alert on the window ending `until` (now) of `window` (the deployment's)."""
    info = get_deployment(store, deployment)
    spec = info.spec.monitoring
    until = until or utcnow()
    since = until - (window or timedelta(seconds=spec.window_s))
    table = read_log(store.settings.home, deployment, since=since, until=until)
    ref_of = _ref_resolver(store, info)
    live = {
        m.version: m.snapshot()
        for m in live_metrics(store, store.settings.home, deployment, since=since, until=until)
    }
    windows = []
    versions = sorted(set(table[VERSION].to_pylist()) | set(live)) if table.num_rows else sorted(live)
    for version in versions:
        rows = table.filter(pc.equal(table[VERSION], version)) if table.num_rows else table
        metrics, report = _version_window(store, info, ref_of(version), rows)
        metrics.update(live.get(version, {}))
        windows.append(WindowInfo(deployment, version, since, until, utcnow(), metrics, report))
    save_windows(store, windows)
    evaluate_alerts(store, deployment, {w.version: w.metrics for w in windows}, window_end=until)
    return windows


def _ref_resolver(store: Store, info: DeploymentInfo) -> Callable[[str], str | None]:
    """Served version number -> model version ref. A number the deployment no longer serves (its alias
    moved within the window) is taken as a version of its main model; an ensemble's members have no one
    ref (None: traffic figures only)."""
    resolved = resolve(store, info.spec)
    if resolved.members or resolved.primary is None:
        return lambda number: None
    known = {str(resolved.primary.version): resolved.primary.ref}
    if resolved.canary is not None:
        known[str(resolved.canary.version)] = resolved.canary.ref
    model = resolved.primary.model
    return lambda number: known.get(number) or f"{model}@{number}"


_TEST_METRICS = (
    ("accuracy", "test_accuracy"),
    ("f1_macro", "test_f1"),
    ("mae", "test_mae"),
    ("rmse", "test_rmse"),
)


def _version_window(
    store: Store, info: DeploymentInfo, ref: str | None, rows: pa.Table
) -> tuple[dict[str, float], dict[str, Any]]:
    metrics = request_stats(rows)
    report: dict[str, Any] = {"ref": ref}
    if ref is None:
        return metrics, report
    try:
        version = get_version(store, ref)
    except NotFound:  # a deleted version still has its traffic figures
        return metrics, report
    for name, key in _TEST_METRICS:
        value = (version.metrics.get("test") or {}).get(name)
        if isinstance(value, int | float):
            metrics[key] = float(value)
    good = answered(rows)
    if good.num_rows == 0:
        return metrics, report
    profile = ensure_profile(store, ref)
    if profile is None:
        report["drift"] = "no reference profile (an import without --reference)"
        return metrics, report
    outputs = outputs_of(good)
    drift = drift_report(profile, features_of(good), outputs, info.spec.monitoring)
    metrics.update(drift.snapshot())
    report["drift"] = drift.to_dict()
    if outputs.probabilities is not None:
        estimate = estimated_accuracy(profile, outputs.probabilities)
        if estimate is not None:
            metrics["estimated_accuracy"] = estimate
    return metrics, report

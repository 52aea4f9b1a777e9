"""One monitor run: a deployment's last window of predictions turned into the metrics alerts and dashboards
read — traffic and errors, drift against the training data, accuracy estimated from confidence, live
accuracy from feedback — stored per served version, then the alert rules evaluated on them.

The monitor job (monitoring/job.py) runs it every `MonitoringSpec.every_s`; `modelplane monitor run` runs
it now. The window is read once; each part takes its share of it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pyarrow.compute as pc

from modelplane.monitoring.alert_eval import evaluate_alerts
from modelplane.monitoring.drift_window import version_reports
from modelplane.monitoring.live import live_metrics
from modelplane.monitoring.log_files import read_log
from modelplane.monitoring.request_stats import request_stats
from modelplane.monitoring.schema import VERSION
from modelplane.monitoring.windows import WindowInfo, save_windows
from modelplane.serving.deployments import get_deployment
from modelplane.store import Store
from modelplane.store.orm import utcnow


def run_monitor(
    store: Store, deployment: str, *, until: datetime | None = None, window: timedelta | None = None
) -> list[WindowInfo]:
    """Compute, store and alert on the window ending `until` (now) of `window` (the deployment's)."""
    spec = get_deployment(store, deployment).spec
    home = store.settings.home
    until = until or utcnow()
    since = until - (window or timedelta(seconds=spec.monitoring.window_s))
    table = read_log(home, deployment, since=since, until=until)
    drift = version_reports(store, deployment, spec, table, since, until)
    live = {m.version: m for m in live_metrics(store, home, deployment, since=since, until=until, log=table)}
    windows = []
    for version in sorted(set(table[VERSION].to_pylist()) | set(live)):
        metrics = request_stats(table.filter(pc.equal(table[VERSION], version)))
        report: dict[str, Any] = {}
        if version in drift:
            metrics.update(drift[version].snapshot())
            report = drift[version].model_dump(mode="json")
        if version in live:
            metrics.update(live[version].snapshot())
        windows.append(WindowInfo(deployment, version, since, until, utcnow(), metrics, report))
    save_windows(store, windows)
    evaluate_alerts(store, deployment, {w.version: w.metrics for w in windows}, window_end=until)
    return windows

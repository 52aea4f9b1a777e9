"""The `monitor` job: one monitor run of one deployment, in the worker pool like every other job, so the
statistics never run on the serving event loop and a crash is retried like a training job."""

from __future__ import annotations

from typing import Any

from modelplane.jobs.context import JobContext
from modelplane.jobs.views import JobInfo
from modelplane.monitoring.monitor import run_monitor
from modelplane.store import Store


class MonitorKind:
    def run(self, ctx: JobContext) -> dict[str, Any]:
        deployment = str(ctx.params["deployment"])
        windows = run_monitor(ctx.store, deployment)
        lines = [f"{deployment} version {w.version}: {_summary(w.metrics)}" for w in windows]
        ctx.progress(1, total=1, line="; ".join(lines) or f"{deployment}: no predictions in the window")
        return {"deployment": deployment, "windows": [w.to_dict() for w in windows]}

    def cleanup(self, store: Store, job: JobInfo) -> None:
        """Nothing to undo: a run's windows are stored in one transaction at its end."""


def _summary(metrics: dict[str, float]) -> str:
    shown = ("requests", "drift", "estimated_accuracy", "live_accuracy", "p99_ms", "error_rate")
    return ", ".join(f"{k} {metrics[k]:.4g}" for k in shown if k in metrics) or "no figures"


KIND = MonitorKind()

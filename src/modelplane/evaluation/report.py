"""Evaluate any runtime on a labelled set: quality metrics plus the latency a server would see."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from modelplane.errors import Invalid
from modelplane.evaluation.metrics import classification_metrics, regression_metrics
from modelplane.evaluation.views import EvaluationReport
from modelplane.runtimes.base import Runtime, check_task

LATENCY_BATCH = 256
MAX_CONFUSION_CLASSES = 20


def evaluate(
    runtime: Runtime,
    x: np.ndarray,
    y: np.ndarray,
    *,
    task: str,
    class_names: Sequence[str] | None = None,
    batch_size: int = 1024,
    latency_samples: int = 200,
) -> EvaluationReport:
    """Predict ``x`` in batches of ``batch_size`` and score against ``y``.

    ``y`` holds class indices for classification (names default to "0".."C-1") and targets for
    regression. ``latency_samples=0`` skips the latency measurement.
    """
    check_task(task)
    if len(x) == 0 or len(x) != len(y) or batch_size < 1:
        raise Invalid(f"need as many targets as inputs (> 0) and batch_size >= 1; got {len(x)}, {len(y)}")
    batches = [runtime.predict(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    out = {name: np.concatenate([b[name] for b in batches]) for name in batches[0]}
    if task == "classification":
        proba = out["probabilities"]
        names = list(class_names) if class_names is not None else [str(i) for i in range(proba.shape[1])]
        metrics: dict[str, Any] = classification_metrics(y, proba, names)
    else:
        metrics = dict(regression_metrics(y, out["prediction"]))
    return EvaluationReport(task, len(x), metrics, _latency(runtime, x, latency_samples))


def _latency(runtime: Runtime, x: np.ndarray, samples: int) -> dict[str, float]:
    if samples <= 0:
        return {}
    runtime.predict(x[:1])  # warm-up: first calls pay for lazy allocation and graph planning
    single = []
    for i in range(samples):
        row = x[i % len(x) : i % len(x) + 1]
        start = time.perf_counter()
        runtime.predict(row)
        single.append((time.perf_counter() - start) * 1e3)
    batch = x[np.arange(LATENCY_BATCH) % len(x)]  # repeat rows when the set is smaller than a batch
    runtime.predict(batch)
    start = time.perf_counter()
    runtime.predict(batch)
    per_sample = (time.perf_counter() - start) * 1e3 / LATENCY_BATCH
    return {
        "batch1_p50_ms": float(np.percentile(single, 50)),
        "batch1_p95_ms": float(np.percentile(single, 95)),
        f"batch{LATENCY_BATCH}_ms_per_sample": per_sample,
    }


def render_report(report: EvaluationReport, *, title: str, console: Console) -> None:
    """Headline metrics, per-class table and confusion matrix (up to 20 classes), latency."""
    metrics = report.metrics
    headline = Table(title=f"{escape(title)} — {report.task}, {report.n_samples} samples")
    headline.add_column("metric")
    headline.add_column("value", justify="right")
    for name, value in metrics.items():
        if not isinstance(value, dict | list):  # per_class and confusion_matrix get their own tables
            headline.add_row(name, _fmt(value))
    console.print(headline)
    if report.task == "classification":
        _render_classes(metrics, console)
    if report.latency:
        latency = Table(title="Latency")
        latency.add_column("measure")
        latency.add_column("ms", justify="right")
        for name, value in report.latency.items():
            latency.add_row(name, f"{value:.4f}")
        console.print(latency)


def _render_classes(metrics: dict[str, Any], console: Console) -> None:
    per_class = Table(title="Per class")
    for column in ("class", "precision", "recall", "f1", "support"):
        per_class.add_column(column, justify="left" if column == "class" else "right")
    for name, m in metrics["per_class"].items():
        per_class.add_row(
            escape(name), _fmt(m["precision"]), _fmt(m["recall"]), _fmt(m["f1"]), str(m["support"])
        )
    console.print(per_class)
    names = list(metrics["per_class"])
    if len(names) > MAX_CONFUSION_CLASSES:
        return
    confusion = Table(title="Confusion matrix (rows: true, columns: predicted)")
    confusion.add_column("true \\ pred")
    for name in names:
        confusion.add_column(escape(name), justify="right")
    for name, row in zip(names, metrics["confusion_matrix"], strict=True):
        confusion.add_row(escape(name), *(str(v) for v in row))
    console.print(confusion)


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f}" if isinstance(value, float) else str(value)

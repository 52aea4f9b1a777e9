"""Evaluate any runtime on a labelled set: quality metrics plus the latency a server would see."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from modelplane.errors import Invalid
from modelplane.evaluation.metrics import classification_metrics, regression_metrics
from modelplane.evaluation.views import EvaluationReport
from modelplane.runtimes.base import Runtime, check_task

LATENCY_BATCH = 256


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

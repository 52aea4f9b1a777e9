"""Packaging a fitted model for the registry: what a finished run (or retrain, or compression) leaves behind:
safe weights, a verified ONNX export and held-out metrics."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelplane.data.catalog import DatasetVersionInfo
from modelplane.errors import IntegrityError, Invalid
from modelplane.evaluation.report import evaluate
from modelplane.models.frameworks import framework_of
from modelplane.models.onnx_checks import verify_export
from modelplane.models.spec import BaseSpec
from modelplane.runtimes.onnx_runtime import OnnxRuntime

ONNX_ATOL = 1e-4
# Probabilities are <= 1, so this only matters for regression targets far from 0, where float32 itself
# cannot hold 1e-4 (a target of 300 has a float32 spacing of 3e-5).
ONNX_RTOL = 1e-6


@dataclass(frozen=True)
class PackagedVersion:
    weights_path: Path
    onnx_path: Path | None
    onnx_note: str | None
    metrics: dict[str, Any]


def package_version(
    model: Any,
    spec: BaseSpec,
    dataset: DatasetVersionInfo,
    arrays: dict[str, tuple[np.ndarray, np.ndarray]],
    scratch: Path,
    *,
    graph: Path | None = None,
) -> PackagedVersion:
    """Save weights, export ONNX and check it against the native model on the test split, then evaluate
    what will serve (the graph, else the native model).

    A framework whose ONNX export is optional (scikit-learn) records why it failed and is served natively;
    for the others a failed export fails the run. `graph`: an ONNX graph already made for this model (a
    retrain's: production's graph holding the fine-tuned weights), checked exactly like a fresh export,
    which it saves redoing."""
    adapter = framework_of(spec)
    x_test, y_test = arrays["test"]
    x_check = x_test.astype(np.float32, copy=False)
    native = adapter.native_runtime(model, spec)
    onnx_path: Path | None = None
    onnx_note = max_diff = None
    try:
        onnx_path = graph or adapter.export_onnx(model, spec, scratch / "model.onnx")
        max_diff = verify_export(native, OnnxRuntime(onnx_path), x_check, atol=ONNX_ATOL, rtol=ONNX_RTOL)
    except (Invalid, IntegrityError) as exc:
        if adapter.onnx_required:
            raise
        onnx_path, onnx_note = None, f"no ONNX export, served by the native {adapter.name} runtime: {exc}"
    weights_path = adapter.save_weights(model, scratch)
    classes = dataset.classes if spec.task == "classification" else None
    # Scored as it will be served: through the verified graph where there is one. Its latency is the
    # server's, and a scikit-learn forest predicting one row at a time through joblib is ~100x slower.
    served = OnnxRuntime(onnx_path) if onnx_path is not None else native
    test = evaluate(served, x_test, y_test, task=spec.task, class_names=classes)
    x_val, y_val = arrays["validation"]
    validation = evaluate(served, x_val, y_val, task=spec.task, class_names=classes, latency_samples=0)
    metrics = {
        "test": test.metrics,
        "validation": validation.metrics,
        "latency_ms": test.latency,
        "onnx_max_abs_diff": max_diff,
    }
    return PackagedVersion(weights_path, onnx_path, onnx_note, metrics)

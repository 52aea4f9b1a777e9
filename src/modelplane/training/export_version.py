"""What a finished run leaves behind: safe weights, a verified ONNX export and held-out metrics."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelplane.compression.export import export_sklearn_onnx, export_torch_onnx, verify_export
from modelplane.data.catalog import DatasetVersionInfo
from modelplane.errors import IntegrityError, Invalid
from modelplane.evaluation.report import evaluate
from modelplane.models.spec import ModelSpec, is_torch
from modelplane.runtimes.onnx_runtime import OnnxRuntime
from modelplane.runtimes.sklearn_runtime import SklearnRuntime
from modelplane.runtimes.torch_runtime import TorchRuntime

ONNX_ATOL = 1e-4
# Probabilities are <= 1, so this only matters for regression targets far from 0, where float32 itself
# cannot hold 1e-4 (a target of 300 has a float32 spacing of 3e-5).
ONNX_RTOL = 1e-6


@dataclass(frozen=True)
class ExportedVersion:
    weights_path: Path
    onnx_path: Path | None
    onnx_note: str | None
    metrics: dict[str, Any]


def _save_weights(model: Any, spec: ModelSpec, scratch: Path) -> Path:
    if is_torch(spec):
        from safetensors.torch import save_file

        path = scratch / "model.safetensors"
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(path))
        return path
    import skops.io as sio

    path = scratch / "model.skops"
    sio.dump(model, path)
    return path


def export_for_registry(
    model: Any,
    spec: ModelSpec,
    dataset: DatasetVersionInfo,
    arrays: dict[str, tuple[np.ndarray, np.ndarray]],
    scratch: Path,
    *,
    graph: Path | None = None,
) -> ExportedVersion:
    """Save weights, export ONNX and check it against the native model on the test split, then evaluate.

    `graph`: an ONNX graph already made for this torch model (a retrain's: production's graph holding the
    fine-tuned weights), checked against the model exactly like a fresh export, which it saves redoing."""
    x_test, y_test = arrays["test"]
    x_check = x_test.astype(np.float32, copy=False)
    onnx_note = None
    if is_torch(spec):
        native: Any = TorchRuntime(model.cpu(), task=spec.task)
        exported = graph or export_torch_onnx(
            model, task=spec.task, input_shape=spec.input_shape, path=scratch / "model.onnx"
        )
        max_diff = verify_export(native, OnnxRuntime(exported), x_check, atol=ONNX_ATOL, rtol=ONNX_RTOL)
        onnx_path: Path | None = exported
    else:
        native = SklearnRuntime(model, task=spec.task, input_shape=spec.input_shape)
        max_diff = None
        try:
            exported = export_sklearn_onnx(
                model, task=spec.task, input_shape=spec.input_shape, path=scratch / "model.onnx"
            )
            max_diff = verify_export(native, OnnxRuntime(exported), x_check, atol=ONNX_ATOL, rtol=ONNX_RTOL)
            onnx_path = exported
        except (Invalid, IntegrityError) as exc:
            onnx_path, onnx_note = None, f"no ONNX export, served by the native sklearn runtime: {exc}"
    weights_path = _save_weights(model, spec, scratch)
    classes = dataset.classes if spec.task == "classification" else None
    test = evaluate(native, x_test, y_test, task=spec.task, class_names=classes)
    x_val, y_val = arrays["validation"]
    validation = evaluate(native, x_val, y_val, task=spec.task, class_names=classes, latency_samples=0)
    metrics = {
        "test": test.metrics,
        "validation": validation.metrics,
        "latency_ms": test.latency,
        "onnx_max_abs_diff": max_diff,
    }
    return ExportedVersion(weights_path, onnx_path, onnx_note, metrics)

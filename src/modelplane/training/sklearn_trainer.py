"""Fitting for the scikit-learn zoo, reporting the same history keys as the torch trainer (one 'epoch')."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.pipeline import Pipeline

from modelplane.models.sklearn_zoo import build_estimator
from modelplane.models.spec import BaseSpec
from modelplane.training.arrays import Arrays, checked_split

_EPS = 1e-15


@dataclass
class SklearnFitResult:
    """Mirrors FitResult so callers can treat both trainers alike; `model` is the fitted Pipeline."""

    model: Pipeline
    history: list[dict[str, float]]
    best_epoch: int = 1
    stopped_early: bool = False
    resumed_from_epoch: int | None = None


def _flat(spec: BaseSpec, data: Arrays, split: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = checked_split(spec, data, split)
    x = x.reshape(len(x), -1).astype(np.float32)
    if spec.task == "classification":
        return x, y
    y = y.astype(np.float64)
    return x, (y[:, 0] if y.shape[1] == 1 else y)


def _log_loss(proba: np.ndarray, classes: np.ndarray, y: np.ndarray, num_classes: int) -> float:
    """Cross-entropy over all num_classes, so a class missing from training does not break scoring."""
    full = np.zeros((len(y), num_classes))
    full[:, classes] = proba
    return float(-np.mean(np.log(np.clip(full[np.arange(len(y)), y], _EPS, 1.0))))


def fit_sklearn(spec: BaseSpec, train: Arrays, val: Arrays, *, seed: int = 0) -> SklearnFitResult:
    x, y = _flat(spec, train, "train")
    x_val, y_val = _flat(spec, val, "val")
    pipeline = build_estimator(spec, seed=seed)
    started = time.perf_counter()
    with warnings.catch_warnings():
        # sklearn 1.9 deprecates SVC(probability=True) for CalibratedClassifierCV; the spec contract (and the
        # ONNX converters) still use SVC until 1.11 removes it, so the user cannot act on this warning.
        warnings.filterwarnings("ignore", message="The `probability` parameter", category=FutureWarning)
        pipeline.fit(x, y)
    fit_seconds = time.perf_counter() - started
    metrics: dict[str, float] = {"epoch": 1}
    if spec.task == "classification":
        proba = pipeline.predict_proba(x_val)
        classes = pipeline.classes_
        metrics["val_loss"] = _log_loss(proba, classes, y_val, spec.num_outputs)
        metrics["val_accuracy"] = float(np.mean(classes[proba.argmax(axis=1)] == y_val))
    else:
        diff = pipeline.predict(x_val).reshape(y_val.shape) - y_val
        metrics["val_mse"] = metrics["val_loss"] = float(np.mean(diff**2))
        metrics["val_mae"] = float(np.mean(np.abs(diff)))
    metrics.update(seconds=time.perf_counter() - started, samples_per_s=len(x) / max(fit_seconds, 1e-9))
    return SklearnFitResult(model=pipeline, history=[metrics])

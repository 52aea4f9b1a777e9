"""Evaluation metrics as plain floats/ints/lists, so they can be stored as JSON and compared across runs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import metrics as skm

from modelplane.errors import Invalid


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, class_names: Sequence[str]
) -> dict[str, Any]:
    """Metrics for class indices ``y_true`` (0..C-1) and probabilities ``proba`` (N, C).

    Predictions are ``argmax(proba)``, the same rule as every runtime's ``label``. ``roc_auc`` is
    binary AUC, macro one-vs-rest for multi-class, and None where undefined (a class missing from y_true).
    """
    y_true = np.asarray(y_true).astype(np.int64).ravel()
    proba = np.asarray(proba, dtype=np.float64)
    n_classes = len(class_names)
    if proba.ndim != 2 or proba.shape != (len(y_true), n_classes) or len(y_true) == 0:
        raise Invalid(
            f"probabilities have shape {proba.shape} but there are {len(y_true)} labels and "
            f"{n_classes} class names; pass (N, C) probabilities with N > 0 and one name per column"
        )
    if y_true.min() < 0 or y_true.max() >= n_classes:
        raise Invalid(
            f"labels must be class indices in 0..{n_classes - 1}; map class values to indices first"
        )
    # float32 rows sum to 1 only up to rounding; log_loss and roc_auc want exact distributions.
    proba = proba / proba.sum(axis=1, keepdims=True)
    y_pred = proba.argmax(axis=1)
    labels = list(range(n_classes))
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    return {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "precision_macro": float(np.mean(precision)),
        "recall_macro": float(np.mean(recall)),
        "f1_macro": float(np.mean(f1)),
        "roc_auc": _roc_auc(y_true, proba, n_classes),
        "log_loss": float(skm.log_loss(y_true, proba, labels=labels)),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def _roc_auc(y_true: np.ndarray, proba: np.ndarray, n_classes: int) -> float | None:
    if len(np.unique(y_true)) != n_classes or n_classes < 2:
        return None
    if n_classes == 2:
        return float(skm.roc_auc_score(y_true, proba[:, 1]))
    return float(
        skm.roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=list(range(n_classes)))
    )


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float | None]:
    """mse, rmse, mae, r2 (averaged over outputs); r2 is None with fewer than two samples."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    y_true = y_true.reshape(len(y_true), -1)
    y_pred = y_pred.reshape(len(y_pred), -1)
    if y_true.shape != y_pred.shape or len(y_true) == 0:
        raise Invalid(
            f"targets have shape {y_true.shape}, predictions {y_pred.shape}; give one prediction per target"
        )
    mse = float(skm.mean_squared_error(y_true, y_pred))
    return {
        "mse": mse,
        "rmse": math.sqrt(mse),
        "mae": float(skm.mean_absolute_error(y_true, y_pred)),
        "r2": float(skm.r2_score(y_true, y_pred)) if len(y_true) >= 2 else None,
    }

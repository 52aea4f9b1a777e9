"""fit_sklearn: every kind fits both tasks it supports and reports the torch trainer's metric keys."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from modelplane.errors import Invalid
from modelplane.models.frameworks import parse_spec
from modelplane.training.sklearn_trainer import fit_sklearn

SMALL = {"random_forest": {"n_estimators": 20}, "gbdt": {"n_estimators": 20}}


@pytest.mark.parametrize("kind", ["logreg", "random_forest", "svm", "gbdt"])
def test_classification(kind: str, digits: Any) -> None:
    (x, y), (xv, yv), _ = digits
    spec = parse_spec(
        {
            "kind": kind,
            "task": "classification",
            "input_shape": [8, 8],
            "num_outputs": 10,
            **SMALL.get(kind, {}),
        }
    )
    result = fit_sklearn(spec, (x[:500].reshape(-1, 8, 8), y[:500]), (xv.reshape(-1, 8, 8), yv), seed=1)
    (metrics,) = result.history
    assert metrics["epoch"] == 1 and result.best_epoch == 1
    assert metrics["val_accuracy"] > 0.85
    assert 0 < metrics["val_loss"] < 1.0
    assert {"seconds", "samples_per_s"} <= set(metrics)
    assert result.model.predict(xv[:3].reshape(3, -1)).shape == (3,)


@pytest.mark.parametrize("kind", ["random_forest", "svm", "gbdt"])
def test_regression(kind: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(300, 4)).astype(np.float32)
    y = x[:, 0] * 2 + np.sin(3 * x[:, 1])
    spec = parse_spec(
        {"kind": kind, "task": "regression", "input_shape": [4], "num_outputs": 1, **SMALL.get(kind, {})}
    )
    (metrics,) = fit_sklearn(spec, (x[:240], y[:240]), (x[240:], y[240:])).history
    assert metrics["val_mse"] == metrics["val_loss"] < 0.2 * y.var()
    assert metrics["val_mae"] > 0


def test_multi_target_forest() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 3))
    y = np.stack([x[:, 0], x[:, 1] * 2], axis=1)
    spec = parse_spec(
        {
            "kind": "random_forest",
            "task": "regression",
            "input_shape": [3],
            "num_outputs": 2,
            "n_estimators": 10,
        }
    )
    result = fit_sklearn(spec, (x[:80], y[:80]), (x[80:], y[80:]))
    assert result.model.predict(x[:2]).shape == (2, 2)


def test_class_missing_from_training_still_scores(digits: Any) -> None:
    (x, y), (xv, yv), _ = digits
    keep = y != 9
    spec = parse_spec({"kind": "logreg", "task": "classification", "input_shape": [64], "num_outputs": 10})
    (metrics,) = fit_sklearn(spec, (x[keep][:300], y[keep][:300]), (xv, yv)).history
    assert np.isfinite(metrics["val_loss"]) and metrics["val_accuracy"] < 0.95


def test_bad_labels(digits: Any) -> None:
    (x, y), val, _ = digits
    spec = parse_spec({"kind": "logreg", "task": "classification", "input_shape": [64], "num_outputs": 5})
    with pytest.raises(Invalid, match=r"labels must be 0..4"):
        fit_sklearn(spec, (x, y), val)

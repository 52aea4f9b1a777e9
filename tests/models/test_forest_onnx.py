"""Forests and trees exported by forest_onnx give sklearn's probabilities and predictions, to float32 sums.

The rows come in float32 neighbour pairs (x and the next float32 up), so every split sklearn learns lies
between two adjacent float32 values that both occur: the training rows sit exactly on the thresholds, where
a threshold rounded to nearest instead of down sends one of the pair down the wrong branch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from sklearn.base import BaseEstimator
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from modelplane.models.forest_onnx import _leq_thresholds, is_tree_ensemble
from modelplane.models.sklearn_export import export_sklearn_onnx
from modelplane.runtimes.onnx_runtime import OnnxRuntime

ATOL = 1e-6
TRAIN = 400  # base rows; with their neighbours 800 training rows
FEATURES = 5


def rows(seed: int = 0) -> np.ndarray:
    """TRAIN base rows, their float32 neighbours, then 200 held-out rows; one column of small integers."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(TRAIN, FEATURES)).astype(np.float32)
    base[:, 4] = rng.integers(0, 4, TRAIN)
    held_out = rng.normal(size=(200, FEATURES)).astype(np.float32)
    held_out[:, 4] = rng.integers(-1, 5, 200)
    return np.concatenate([base, np.nextafter(base, np.float32(np.inf)), held_out])


def classes_for(x: np.ndarray, n_classes: int, seed: int = 0) -> np.ndarray:
    """Labels that follow the features with some noise, so unlimited-depth trees grow deep."""
    score = x[:, 0] - x[:, 1] + 0.5 * x[:, 4] + np.random.default_rng(seed).normal(scale=0.8, size=len(x))
    return np.digitize(score, np.quantile(score, np.linspace(0, 1, n_classes + 1)[1:-1]))


def export(pipeline: BaseEstimator, task: str, tmp_path: Path) -> OnnxRuntime:
    path = export_sklearn_onnx(pipeline, task=task, input_shape=(FEATURES,), path=tmp_path / "m.onnx")
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert "TreeEnsembleRegressor" in ops and "TreeEnsembleClassifier" not in ops  # forest_onnx, not skl2onnx
    return OnnxRuntime(path)


def assert_labels_match(label: np.ndarray, proba: np.ndarray) -> None:
    """ArgMax equals sklearn's wherever its top two probabilities are not tied within ATOL."""
    top2 = np.sort(proba, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > ATOL
    assert clear.mean() > 0.5
    np.testing.assert_array_equal(label[clear], proba.argmax(axis=1)[clear])


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("scaled", [False, True], ids=["raw", "scaled"])
@pytest.mark.parametrize("max_depth", [None, 4])
@pytest.mark.parametrize("n_estimators", [1, 20])
def test_random_forest_classifier_matches_predict_proba(tmp_path, n_classes, scaled, max_depth, n_estimators):
    x = rows()
    y = classes_for(x, n_classes)
    forest = RandomForestClassifier(n_estimators, max_depth=max_depth, random_state=0)
    pipeline = make_pipeline(*([StandardScaler()] if scaled else []), forest).fit(
        x[: 2 * TRAIN], y[: 2 * TRAIN]
    )
    out = export(pipeline, "classification", tmp_path).predict(x)
    proba = pipeline.predict_proba(x)
    assert out["probabilities"].shape == (len(x), n_classes)
    np.testing.assert_allclose(out["probabilities"], proba, rtol=0, atol=ATOL)
    assert_labels_match(out["label"], proba)


@pytest.mark.parametrize("estimator", [ExtraTreesClassifier, DecisionTreeClassifier])
@pytest.mark.parametrize("scaled", [False, True], ids=["raw", "scaled"])
def test_extra_trees_and_decision_tree_classifiers_match(tmp_path, estimator, scaled):
    x = rows(1)
    y = np.array(["low", "mid", "high"])[classes_for(x, 3, seed=1)]  # string classes: label is the index
    model = estimator(random_state=0)
    pipeline = make_pipeline(*([StandardScaler()] if scaled else []), model).fit(
        x[: 2 * TRAIN], y[: 2 * TRAIN]
    )
    out = export(pipeline, "classification", tmp_path).predict(x)
    proba = pipeline.predict_proba(x)
    np.testing.assert_allclose(out["probabilities"], proba, rtol=0, atol=ATOL)
    assert_labels_match(out["label"], proba)


@pytest.mark.parametrize("estimator", [RandomForestRegressor, ExtraTreesRegressor, DecisionTreeRegressor])
@pytest.mark.parametrize("targets", [1, 3])
@pytest.mark.parametrize("scaled", [False, True], ids=["raw", "scaled"])
def test_regressors_match_predict(tmp_path, estimator, targets, scaled):
    x = rows(2)
    noise = np.random.default_rng(2).normal(scale=0.3, size=(len(x), 3))
    y = np.c_[np.sin(x[:, 0]) + x[:, 4] / 4, x[:, 1] * x[:, 2] / 3, np.tanh(x[:, 3])] + noise  # order 1
    y = y[:, 0] if targets == 1 else y
    model = estimator(random_state=0) if estimator is DecisionTreeRegressor else estimator(20, random_state=0)
    pipeline = make_pipeline(*([StandardScaler()] if scaled else []), model).fit(
        x[: 2 * TRAIN], y[: 2 * TRAIN]
    )
    prediction = export(pipeline, "regression", tmp_path).predict(x)["prediction"]
    assert prediction.shape == (len(x), targets)
    np.testing.assert_allclose(prediction, pipeline.predict(x).reshape(len(x), -1), rtol=0, atol=ATOL)


@pytest.mark.parametrize("estimator", [RandomForestClassifier, ExtraTreesClassifier])
@pytest.mark.parametrize("nan_in_training", [True, False])
def test_missing_values_take_sklearns_branch(tmp_path, estimator, nan_in_training):
    """NaN follows each split's missing_go_to_left, learnt from NaN rows or set to the larger child."""
    x = rows(3)
    y = classes_for(x, 3, seed=3)
    with_nan = x.copy()
    with_nan[np.random.default_rng(3).random(x.shape) < 0.15] = np.nan
    pipeline = make_pipeline(estimator(20, random_state=0))
    pipeline.fit((with_nan if nan_in_training else x)[: 2 * TRAIN], y[: 2 * TRAIN])
    out = export(pipeline, "classification", tmp_path).predict(with_nan)
    np.testing.assert_allclose(out["probabilities"], pipeline.predict_proba(with_nan), rtol=0, atol=ATOL)


def test_thresholds_round_down_to_float32():
    """x <= w in float32 exactly when float64(x) <= t, for the float32 values on either side of t."""
    rng = np.random.default_rng(4)
    low = rng.normal(scale=[[1e-3], [1.0], [1e4]], size=(3, 2000)).astype(np.float32).ravel()
    high = np.nextafter(low, np.float32(np.inf))
    # sklearn's midpoints between neighbours, exact float32 values, and zero
    thresholds = np.concatenate([low / 2.0 + high / 2.0, low.astype(np.float64), [0.0, -0.0]])
    w = _leq_thresholds(thresholds)
    assert w.dtype == np.float32
    below = np.nextafter(w, np.float32(-np.inf))
    above = np.nextafter(w, np.float32(np.inf))
    for x in (below, w, above):
        np.testing.assert_array_equal(x <= w, x.astype(np.float64) <= thresholds)


def test_only_fitted_single_output_forests_and_trees_are_converted():
    x = rows()[:100]
    y = classes_for(x, 2)
    assert is_tree_ensemble(RandomForestClassifier(2).fit(x, y))
    assert is_tree_ensemble(DecisionTreeRegressor().fit(x, x[:, :2]))  # multi-output regression is fine
    assert not is_tree_ensemble(RandomForestClassifier(2))  # not fitted
    assert not is_tree_ensemble(RandomForestClassifier(2).fit(x, np.c_[y, 1 - y]))  # one classes_ per output
    assert not is_tree_ensemble(LogisticRegression().fit(x, y))

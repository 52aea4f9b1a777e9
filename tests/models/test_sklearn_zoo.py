"""sklearn zoo: the pipeline layout the registry and ONNX export rely on."""

from __future__ import annotations

from typing import Any

import pytest
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR

from modelplane.errors import Invalid
from modelplane.models.frameworks import parse_spec
from modelplane.models.sklearn_zoo import build_estimator


def spec(kind: str, task: str = "classification", **fields: Any) -> Any:
    outputs = 3 if task == "classification" else 1
    return parse_spec({"kind": kind, "task": task, "input_shape": [2, 3], "num_outputs": outputs, **fields})


@pytest.mark.parametrize(
    ("kind", "task", "cls"),
    [
        ("logreg", "classification", LogisticRegression),
        ("random_forest", "classification", RandomForestClassifier),
        ("random_forest", "regression", RandomForestRegressor),
        ("svm", "classification", SVC),
        ("svm", "regression", SVR),
        ("gbdt", "classification", HistGradientBoostingClassifier),
        ("gbdt", "regression", HistGradientBoostingRegressor),
    ],
)
def test_pipeline_layout(kind: str, task: str, cls: type) -> None:
    pipeline = build_estimator(spec(kind, task), seed=3)
    names = [name for name, _ in pipeline.steps]
    assert names == ["scale", "model"]
    assert isinstance(pipeline.named_steps["scale"], StandardScaler)
    assert isinstance(pipeline.named_steps["model"], cls)


def test_no_scaler_without_normalize() -> None:
    assert [name for name, _ in build_estimator(spec("logreg", normalize=False)).steps] == ["model"]


def test_spec_fields_reach_the_estimator() -> None:
    forest = build_estimator(spec("random_forest", n_estimators=7, max_depth=3), seed=5).named_steps["model"]
    assert (forest.n_estimators, forest.max_depth, forest.n_jobs, forest.random_state) == (7, 3, -1, 5)
    svc = build_estimator(spec("svm", gamma=0.5, kernel="poly")).named_steps["model"]
    assert (svc.probability, svc.gamma, svc.kernel) == (True, 0.5, "poly")
    boost = build_estimator(spec("gbdt", n_estimators=9, learning_rate=0.3)).named_steps["model"]
    assert (boost.max_iter, boost.learning_rate) == (9, 0.3)


def test_torch_kind_is_refused() -> None:
    with pytest.raises(Invalid, match="build_torch_model"):
        build_estimator(spec("mlp"))

"""scikit-learn estimators from a spec, as a Pipeline so the scaling is stored and exported with the model."""

from __future__ import annotations

from sklearn.base import BaseEstimator
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR

from modelplane.errors import Invalid
from modelplane.models.spec import BaseSpec, GBDTSpec, LogRegSpec, RandomForestSpec, SVMSpec


def _estimator(spec: BaseSpec, seed: int) -> BaseEstimator:
    classify = spec.task == "classification"
    if isinstance(spec, LogRegSpec):
        return LogisticRegression(C=spec.C, max_iter=spec.max_iter, random_state=seed)
    if isinstance(spec, RandomForestSpec):
        forest = RandomForestClassifier if classify else RandomForestRegressor
        return forest(
            n_estimators=spec.n_estimators,
            max_depth=spec.max_depth,
            min_samples_leaf=spec.min_samples_leaf,
            n_jobs=-1,
            random_state=seed,
        )
    if isinstance(spec, SVMSpec):
        if classify:
            return SVC(C=spec.C, kernel=spec.kernel, gamma=spec.gamma, probability=True, random_state=seed)
        return SVR(C=spec.C, kernel=spec.kernel, gamma=spec.gamma)
    if isinstance(spec, GBDTSpec):
        boost = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
        return boost(
            max_iter=spec.n_estimators,
            learning_rate=spec.learning_rate,
            max_depth=spec.max_depth,
            random_state=seed,
        )
    raise Invalid(f"model kind {spec.kind!r} is not a scikit-learn model; build it with build_torch_model")


def build_estimator(spec: BaseSpec, *, seed: int = 0) -> Pipeline:
    """[("scale", StandardScaler) if spec.normalize] + [("model", estimator)]; it reads X.reshape(n, -1)."""
    model = _estimator(spec, seed)
    steps: list[tuple[str, BaseEstimator]] = [("scale", StandardScaler())] if spec.normalize else []
    return Pipeline([*steps, ("model", model)])

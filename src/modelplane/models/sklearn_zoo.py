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
from modelplane.models.frameworks import family
from modelplane.models.spec import BaseSpec, GBDTSpec, LogRegSpec, RandomForestSpec, SVMSpec


def logistic_regression(spec: LogRegSpec, seed: int) -> BaseEstimator:
    return LogisticRegression(C=spec.C, max_iter=spec.max_iter, random_state=seed)


def random_forest(spec: RandomForestSpec, seed: int) -> BaseEstimator:
    forest = RandomForestClassifier if spec.task == "classification" else RandomForestRegressor
    return forest(
        n_estimators=spec.n_estimators,
        max_depth=spec.max_depth,
        min_samples_leaf=spec.min_samples_leaf,
        n_jobs=-1,
        random_state=seed,
    )


def svm(spec: SVMSpec, seed: int) -> BaseEstimator:
    if spec.task == "classification":
        return SVC(C=spec.C, kernel=spec.kernel, gamma=spec.gamma, probability=True, random_state=seed)
    return SVR(C=spec.C, kernel=spec.kernel, gamma=spec.gamma)


def gradient_boosting(spec: GBDTSpec, seed: int) -> BaseEstimator:
    boost = HistGradientBoostingClassifier if spec.task == "classification" else HistGradientBoostingRegressor
    return boost(
        max_iter=spec.n_estimators,
        learning_rate=spec.learning_rate,
        max_depth=spec.max_depth,
        random_state=seed,
    )


def build_estimator(spec: BaseSpec, *, seed: int = 0) -> Pipeline:
    """[("scale", StandardScaler) if spec.normalize] + [("model", estimator)]; it reads X.reshape(n, -1).

    The estimator comes from the family's builder, called as `build(spec, seed)`."""
    fam = family(spec.kind)
    if fam.framework != "sklearn":
        raise Invalid(
            f"model kind {spec.kind!r} is not a scikit-learn model; build it with build_torch_model"
        )
    model = fam.builder()(spec, seed)
    steps: list[tuple[str, BaseEstimator]] = [("scale", StandardScaler())] if spec.normalize else []
    return Pipeline([*steps, ("model", model)])

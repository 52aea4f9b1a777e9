"""Small datasets shipped inside scikit-learn (`builtin:NAME`): nothing is downloaded."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from sklearn import datasets

from modelplane.data.sources import Chunk, SourceSchema
from modelplane.errors import Invalid

_LOADERS: dict[str, Callable[[], Any]] = {
    "breast_cancer": datasets.load_breast_cancer,
    "diabetes": datasets.load_diabetes,
    "digits": datasets.load_digits,
    "iris": datasets.load_iris,
    "wine": datasets.load_wine,
}
_REGRESSION = frozenset({"diabetes"})
_IMAGES = {"digits": (1, 8, 8)}


def open_builtin(name: str, *, chunk_rows: int) -> tuple[SourceSchema, Iterator[Chunk]]:
    """Load the named dataset; classification targets become their class names as text."""
    loader = _LOADERS.get(name)
    if loader is None:
        raise Invalid(f"unknown builtin dataset '{name}'; known: {', '.join(_LOADERS)} (use builtin:NAME)")
    bunch = loader()
    x = np.ascontiguousarray(bunch.data, dtype=np.float32)
    class_names: list[str] | None = None
    if name in _REGRESSION:
        y = np.asarray(bunch.target, dtype=np.float64)
    else:
        class_names = [str(label) for label in bunch.target_names]
        y = np.asarray(class_names, dtype=np.str_)[bunch.target]
    schema = SourceSchema(
        format="builtin",
        feature_names=[str(feature) for feature in bunch.feature_names],
        feature_shape=(x.shape[1],),
        feature_dtype="float32",
        target_name="target",
        image_shape=_IMAGES.get(name),
        class_names=class_names,
        task_hint="regression" if name in _REGRESSION else "classification",
    )
    return schema, _chunks(x, y, chunk_rows)


def _chunks(x: np.ndarray, y: np.ndarray, chunk_rows: int) -> Iterator[Chunk]:
    for start in range(0, len(x), chunk_rows):
        yield Chunk(features=x[start : start + chunk_rows], target=y[start : start + chunk_rows])

"""A fitted scikit-learn pipeline as a Runtime: the native runtime of sklearn versions."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from modelplane.errors import Invalid
from modelplane.runtimes.base import INPUT_NAME, OUTPUT_NAMES, as_2d, as_float32, check_task

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline


def check_sklearn_pipeline(pipeline: Pipeline, task: str) -> None:
    """Refuse a pipeline that cannot honour the contract, before it reaches a request."""
    from sklearn.base import is_classifier

    if check_task(task) == "classification" and not hasattr(pipeline, "predict_proba"):
        final = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
        raise Invalid(
            f"{type(final).__name__} has no predict_proba, so it cannot give class probabilities; "
            "use an estimator with predict_proba (e.g. wrap it in CalibratedClassifierCV)"
        )
    if task == "regression" and is_classifier(pipeline):
        raise Invalid("the pipeline is a classifier but the task is 'regression'; use task='classification'")


class SklearnRuntime:
    """A fitted pipeline taking flattened float32 rows.

    ``label`` is ``argmax(predict_proba)``: the class index (position in ``classes_``), the same rule
    as the torch and ONNX runtimes. For SVC(probability=True) this can differ from ``predict`` on rare
    points, since sklearn's ``predict`` uses the decision function there, not the calibrated probabilities.
    """

    platform = "sklearn_native"

    def __init__(self, pipeline: Pipeline, *, task: str, input_shape: Sequence[int]) -> None:
        check_sklearn_pipeline(pipeline, task)
        self.pipeline = pipeline
        self.task = task
        self.input_shape = [int(d) for d in input_shape]
        self.input_name = INPUT_NAME
        self.output_names = list(OUTPUT_NAMES[task])

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        batch = as_float32(x, self.input_shape)
        flat = batch.reshape(len(batch), math.prod(self.input_shape))
        if self.task == "classification":
            probabilities = np.asarray(self.pipeline.predict_proba(flat), dtype=np.float32)
            return {"label": probabilities.argmax(axis=1).astype(np.int64), "probabilities": probabilities}
        return {"prediction": as_2d(np.asarray(self.pipeline.predict(flat), dtype=np.float32))}

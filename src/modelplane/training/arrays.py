"""The one check both trainers run on a split before fitting: shapes, counts and target encoding."""

from __future__ import annotations

import numpy as np

from modelplane.errors import Invalid
from modelplane.models.spec import BaseSpec

Arrays = tuple[np.ndarray, np.ndarray]


def checked_split(spec: BaseSpec, data: Arrays, split: str) -> Arrays:
    """Features as given; targets as int64 class indices or float32 (N, num_outputs) regression values."""
    x, y = np.asarray(data[0]), np.asarray(data[1])
    if x.ndim < 1 or tuple(x.shape[1:]) != tuple(spec.input_shape):
        raise Invalid(
            f"{split} features have per-sample shape {list(x.shape[1:])} but the spec's input_shape is "
            f"{spec.input_shape}; reshape the data or fix input_shape"
        )
    if len(x) == 0 or len(y) != len(x):
        raise Invalid(
            f"{split} split needs at least one sample and one target per sample, got {len(x)} and {len(y)}"
        )
    if spec.task == "classification":
        if y.ndim != 1 or not (np.issubdtype(y.dtype, np.integer) or np.array_equal(y, np.round(y))):
            raise Invalid(f"{split} targets must be 1-d integer class indices for classification")
        if y.min() < 0 or y.max() >= spec.num_outputs:
            raise Invalid(
                f"{split} labels span {int(y.min())}..{int(y.max())} but num_outputs is {spec.num_outputs}; "
                f"labels must be 0..{spec.num_outputs - 1}"
            )
        return x, y.astype(np.int64)
    values = np.ascontiguousarray(y, dtype=np.float32).reshape(len(y), -1)
    if values.shape[1] != spec.num_outputs:
        raise Invalid(f"{split} has {values.shape[1]} target columns but num_outputs is {spec.num_outputs}")
    return x, values

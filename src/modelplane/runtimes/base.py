"""One prediction contract for torch, TorchScript, sklearn and ONNX models.

Every runtime takes ``input`` as float32 ``(N, *input_shape)`` (uint8 and other real numeric
dtypes are cast) and returns
classification: ``{"label": int64 (N,), "probabilities": float32 (N, C)}`` with
``label == argmax(probabilities)`` (the class index, 0..C-1);
regression: ``{"prediction": float32 (N, k)}``.
Serving and batch prediction rely only on this, never on the model's framework.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from modelplane.errors import Invalid

INPUT_NAME = "input"
OUTPUT_NAMES: dict[str, list[str]] = {
    "classification": ["label", "probabilities"],
    "regression": ["prediction"],
}


class Runtime(Protocol):
    input_name: str
    output_names: list[str]
    # What KServe V2 model metadata calls the backend (Triton's names where it has one).
    platform: str

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]: ...


def check_task(task: str) -> str:
    if task not in OUTPUT_NAMES:
        raise Invalid(f"unknown task {task!r}; use one of {sorted(OUTPUT_NAMES)}")
    return task


def as_float32(x: np.ndarray, input_shape: Sequence[int | str | None] | None = None) -> np.ndarray:
    """Cast to float32 and check the shape is (N, *input_shape); symbolic dims match anything."""
    x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise Invalid(f"input must be a real numeric array (float32 or uint8), got dtype {x.dtype}")
    if input_shape is not None:
        expected = list(input_shape)
        ok = x.ndim == len(expected) + 1 and all(
            not isinstance(e, int) or e == d for e, d in zip(expected, x.shape[1:], strict=True)
        )
        if not ok:
            raise Invalid(
                f"input has shape {x.shape} but the model takes (N, {', '.join(map(str, expected))}); "
                "reshape the batch to match"
            )
    return np.ascontiguousarray(x, dtype=np.float32)


def as_2d(a: np.ndarray) -> np.ndarray:
    """(N,) regression values as (N, 1), the contract's shape for one value per row."""
    return a.reshape(len(a), -1)

"""`POST /v1/predict/{deployment}`: TF-Serving style rows for curl users, over the same V2 service.

`{"instances": [[...], ...]}` (rows) or `{"inputs": [[...], ...]}` / `{"inputs": {"<input>": [...]}}`
(columnar) feed the model's single input as FP32. The answer is `{"predictions": [...]}`, one entry per
row: `{"label", "probabilities"}` for a classifier, the value (or list of values) for a regressor.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from modelplane.errors import Invalid
from modelplane.serving.codec import Nonfinite, check_finite
from modelplane.serving.rest_v2 import loads
from modelplane.serving.types import InferRequest, InferResult, ModelMeta


def decode_predict(
    model: str, version: str | None, body: bytes | bytearray, meta: ModelMeta, nonfinite: Nonfinite
) -> InferRequest:
    if len(meta.inputs) != 1:
        raise Invalid(
            f"model {model!r} takes {len(meta.inputs)} inputs; /v1/predict feeds one, "
            f"use POST /v2/models/{model}/infer"
        )
    name = meta.inputs[0].name
    payload = loads(body)
    if "instances" in payload:
        rows = payload["instances"]
    elif "inputs" in payload:
        rows = payload["inputs"]
        if isinstance(rows, dict):
            if set(rows) != {name}:
                raise Invalid(f"'inputs' names {sorted(rows)} but model {model!r} takes one input {name!r}")
            rows = rows[name]
    else:
        raise Invalid('the body needs "instances": [[...], ...] (one row per prediction)')
    if not isinstance(rows, list) or not rows:
        raise Invalid("instances must be a non-empty list of rows")
    try:
        parsed = np.array(rows)
    except ValueError:
        raise Invalid("instances must all have the same shape") from None
    if parsed.dtype.kind not in "iuf":
        raise Invalid("instances must hold numbers only (no strings, booleans or nulls)")
    with np.errstate(over="ignore"):
        x = parsed.astype(np.float32, copy=False)
    check_finite(name, x, nonfinite)
    return InferRequest(model, version, {name: x})


def encode_predict(result: InferResult) -> bytes:
    """`{"predictions": [...]}`; numeric arrays stay numpy so orjson writes FP32 at FP32 precision."""
    outputs = result.outputs
    predictions: Any
    if "label" in outputs and "probabilities" in outputs:
        labels = outputs["label"].reshape(-1).tolist()
        rows = np.ascontiguousarray(outputs["probabilities"])
        predictions = [{"label": y, "probabilities": row} for y, row in zip(labels, rows, strict=True)]
    elif len(outputs) == 1:
        (values,) = outputs.values()
        if values.ndim == 2 and values.shape[1] == 1:  # one value per row: a scalar, not [value]
            values = values[:, 0]
        predictions = _json_ready(values)
    else:
        columns = [_json_ready(array) for array in outputs.values()]
        predictions = [dict(zip(outputs, row, strict=True)) for row in zip(*columns, strict=True)]
    return orjson.dumps({"predictions": predictions}, option=orjson.OPT_SERIALIZE_NUMPY, default=_text)


def _json_ready(array: np.ndarray) -> Any:
    """Numeric arrays as contiguous numpy (orjson writes them natively); text arrays as lists."""
    return array.tolist() if array.dtype.kind in "OSU" else np.ascontiguousarray(array)


def _text(value: Any) -> str:
    """BYTES elements (bytes inside object arrays) become text in JSON."""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    raise TypeError(f"cannot write {type(value).__name__} as JSON")

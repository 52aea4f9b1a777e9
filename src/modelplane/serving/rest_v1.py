"""`POST /v1/predict/{deployment}`: TF-Serving style rows for curl users, over the same V2 service.

For a model of named columns (a table): `{"instances": [{"col": value, ...}, ...]}` (records, keys in any
order; values are numbers, strings, booleans, or null for a missing value) or `{"inputs": {"col": [...],
...}}` (columnar), matched by name; `{"instances": [[...], ...]}` (one float matrix in training order)
still works for a model whose columns are all numbers. `"strict": true` refuses columns the model does
not read instead of ignoring them. For a model of arrays: `{"instances": [[...], ...]}` (rows) or
`{"inputs": [[...], ...]}` / `{"inputs": {"<input>": [...]}}` feed its single input as FP32.

The answer is `{"predictions": [...]}`, one entry per row: `{"label", "probabilities"}` for a classifier
(`label` is the class name), the value (or list of values) for a regressor; `"ignored_columns"` beside it
lists the columns that were sent but not read, and `"id"` the request's id when the prediction log
recorded it (the id feedback names it by).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson

from modelplane.errors import Invalid
from modelplane.serving.codec import Nonfinite, check_finite
from modelplane.serving.json_numbers import PIECE_ROWS, NumberText
from modelplane.serving.rest_v2 import loads
from modelplane.serving.tables import MATRIX_INPUT
from modelplane.serving.types import InferRequest, InferResult, ModelMeta


def decode_predict(
    model: str, version: str | None, body: bytes | bytearray, meta: ModelMeta, nonfinite: Nonfinite
) -> InferRequest:
    payload = loads(body)
    strict = payload.get("strict", False)
    if not isinstance(strict, bool):
        raise Invalid(f"'strict' must be true or false, got {strict!r}")
    parameters = {"strict": True} if strict else {}
    if meta.named_columns:
        named = _named_columns(payload)
        if named is not None:
            return InferRequest(model, version, named, parameters=parameters)
        name = MATRIX_INPUT
    elif len(meta.inputs) != 1:
        raise Invalid(
            f"model {model!r} takes {len(meta.inputs)} inputs; /v1/predict feeds one, "
            f"use POST /v2/models/{model}/infer"
        )
    else:
        name = meta.inputs[0].name
    x = _matrix(model, name, payload, nonfinite)
    return InferRequest(model, version, {name: x}, parameters=parameters)


def _named_columns(payload: Mapping[str, Any]) -> dict[str, np.ndarray] | None:
    """Records or named columns as one object array of raw JSON values per column (the model's signature
    reads them by role); None when the body holds rows as lists (the float matrix)."""
    if "instances" in payload:
        rows = payload["instances"]
        if isinstance(rows, NumberText):
            return None
        if not isinstance(rows, list) or not rows:
            raise Invalid("instances must be a non-empty list of rows")
        if not isinstance(rows[0], dict):
            return None
        if not all(isinstance(row, dict) for row in rows):
            raise Invalid("give every row as an object of column: value, or every row as a list")
        seen: dict[str, None] = {}
        for row in rows:
            seen.update(dict.fromkeys(row))
        # A column some rows leave out is missing in those rows; one no row has is refused by the model.
        return {name: _values([row.get(name) for row in rows]) for name in seen}
    columns = payload.get("inputs")
    if (
        isinstance(columns, dict)
        and not isinstance(columns.get(MATRIX_INPUT), NumberText)
        and not (set(columns) == {MATRIX_INPUT} and _is_matrix(columns[MATRIX_INPUT]))
    ):
        for name, values in columns.items():
            if not isinstance(values, list):
                raise Invalid(f"inputs[{name!r}] must be a list with one value per row")
        return {name: _values(values) for name, values in columns.items()}
    return None


def _is_matrix(values: Any) -> bool:
    return isinstance(values, list) and bool(values) and isinstance(values[0], list)


def _values(items: list[Any]) -> np.ndarray:
    """A 1-D object array, whatever the items (a nested list stays one item, refused by its role)."""
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def _matrix(model: str, name: str, payload: Mapping[str, Any], nonfinite: Nonfinite) -> np.ndarray:
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
    if isinstance(rows, NumberText):
        fast = rows.array(np.dtype(np.float32)) if rows.nested else None
        if fast is not None:
            check_finite(name, fast, nonfinite)
            return fast
        rows = rows.to_list()  # not a clean matrix of numbers: the checks below say what is wrong
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
    return x


def encode_predict(result: InferResult) -> bytes:
    """`{"predictions": [...]}`; numeric arrays stay numpy so orjson writes FP32 at FP32 precision. Many
    rows are written `PIECE_ROWS` at a time (call it from a worker thread then: each piece holds the GIL
    for a few milliseconds only, where the whole would hold it for half a second)."""
    outputs = result.outputs
    rows = len(next(iter(outputs.values())))
    parts = [b'{"predictions":[']
    for start in range(0, rows, PIECE_ROWS):
        piece = {name: array[start : start + PIECE_ROWS] for name, array in outputs.items()}
        if start:
            parts.append(b",")
        parts.append(
            orjson.dumps(_predictions(piece), option=orjson.OPT_SERIALIZE_NUMPY, default=_text)[1:-1]
        )
    parts.append(b"]")
    ignored = result.parameters.get("ignored_columns")
    if ignored:
        parts.append(b',"ignored_columns":' + orjson.dumps(ignored))
    if result.id is not None:
        parts.append(b',"id":' + orjson.dumps(result.id))
    parts.append(b"}")
    return b"".join(parts)


def _predictions(outputs: Mapping[str, np.ndarray]) -> Any:
    """One entry per row: {label, probabilities}, the value(s), or an object of the outputs."""
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
    return predictions


def _json_ready(array: np.ndarray) -> Any:
    """Numeric arrays as contiguous numpy (orjson writes them natively); text arrays as lists."""
    return array.tolist() if array.dtype.kind in "OSU" else np.ascontiguousarray(array)


def _text(value: Any) -> str:
    """BYTES elements (bytes inside object arrays) become text in JSON."""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    raise TypeError(f"cannot write {type(value).__name__} as JSON")

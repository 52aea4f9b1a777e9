"""Named columns in serving: the V2 tensors a tabular model's columns travel as, requests turned into the
batch a version reads, and class indices turned into class names.

A deployment whose model has a `TableSignature` takes one V2 input per column (MLServer's pandas-codec
convention: shape [N] or [N, 1]), or the single `input` matrix in training order when every column is a
number. Inside serving a batch is either that float matrix (a version without preprocessing: today's fast
path) or the signature's structured rows (a version with preprocessing); `feed` turns one into what each
version reads, so a canary or ensemble member of the other kind still gets its own form.
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from typing import Any

import numpy as np

from modelplane.errors import Invalid
from modelplane.serving.types import TensorMeta
from modelplane.tables.signature import TableSignature

MATRIX_INPUT = "input"  # the runtimes' one input (runtimes/base.py INPUT_NAME)
# The V2 datatype metadata lists for each role; numbers and booleans also come in any numeric datatype,
# and datetimes as FP64/INT64 epoch seconds.
ROLE_DATATYPE = {"numeric": "FP32", "boolean": "BOOL", "categorical": "BYTES", "datetime": "BYTES"}


def column_inputs(table: TableSignature) -> tuple[TensorMeta, ...]:
    """One V2 input per column, in training order."""
    return tuple(TensorMeta(c.name, ROLE_DATATYPE[c.role], (-1, 1)) for c in table.columns)


def class_names(classes: Sequence[str] | None, count: int) -> np.ndarray:
    """The text `label` carries, indexed by class: the version's class names, else the index as text.
    A numpy str array, so one `take` maps a batch and `tolist` writes it."""
    return np.array(list(classes) if classes else [str(i) for i in range(count)])


def is_matrix(columns: Container[str], inputs: Mapping[str, Any]) -> bool:
    """Whether a request sends the one float matrix rather than named columns (`columns`: the names)."""
    return len(inputs) == 1 and MATRIX_INPUT in inputs and MATRIX_INPUT not in columns


def columns_of(inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-column tensors (shape [N] or [N, 1]) as 1-D value arrays; BYTES become text."""
    given = {}
    for name, array in inputs.items():
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        elif array.ndim != 1:
            raise Invalid(
                f"input {name!r} has shape {list(array.shape)}; send one tensor per column with shape "
                "[N] or [N, 1] (one value per row)"
            )
        given[name] = _text(name, array) if array.dtype == object else array
    return given


def _text(name: str, array: np.ndarray) -> np.ndarray:
    out = np.empty(len(array), dtype=object)
    for row, value in enumerate(array.tolist()):
        if isinstance(value, bytes):
            try:
                value = value.decode()
            except UnicodeDecodeError:
                raise Invalid(f"column {name!r} row {row + 1}: the value is not UTF-8 text") from None
        out[row] = value
    return out


def rows_of(
    table: TableSignature, inputs: Mapping[str, np.ndarray], *, strict: bool
) -> tuple[np.ndarray, list[str]]:
    """Per-column tensors as the signature's rows, plus the names ignored (never read, so never checked)."""
    names = set(table.names)
    read = columns_of({name: array for name, array in inputs.items() if name in names})
    values, ignored = table.values_from_columns({**inputs, **read}, strict=strict)
    return table.rows(values), ignored


def check_values(table: TableSignature, rows: np.ndarray, *, missing: bool, nonfinite: str) -> None:
    """Refuse Inf always and NaN (a missing value) unless the model imputes it (`missing`) or the server
    allows non-finite numbers; the message names the column and the row."""
    if nonfinite == "allow":
        return
    for block in ("numeric", "datetime"):
        if block not in (rows.dtype.names or ()):
            continue
        values = rows[block]
        bad = np.isinf(values) if missing else ~np.isfinite(values)
        if bad.any():
            row, col = (int(i) for i in np.argwhere(bad)[0])
            name, value = table.block(block)[col].name, float(values[row, col])
            if np.isinf(value):
                raise Invalid(f"column {name!r} row {row + 1} is {value}; send a finite number")
            raise Invalid(
                f"column {name!r} row {row + 1} is missing (null or NaN) and this model, trained without "
                "preprocessing, cannot fill it in; send a number"
            )


def blank_rows(table: TableSignature, count: int) -> np.ndarray:
    """`count` rows of zeros and empty categories: what a runtime is warmed with."""
    rows = np.zeros(count, dtype=table.rows_dtype)
    if "categorical" in (rows.dtype.names or ()):
        rows["categorical"] = ""
    return rows


def warm_up(
    runtime: Any, input_shape: Sequence[int], table: TableSignature | None, takes_rows: bool, max_rows: int
) -> None:
    """One call at batch 1 and one at the largest batch: the first request is not slow, and a version
    that cannot compute its largest batch fails here, before it receives traffic."""
    for rows in (1, max_rows):
        if takes_rows:
            assert table is not None
            runtime.predict(blank_rows(table, rows))
        else:
            runtime.predict(np.zeros((rows, *input_shape), dtype=np.float32))


def feed(
    x: np.ndarray, *, table: TableSignature | None, takes_rows: bool, input_shape: Sequence[int]
) -> np.ndarray:
    """A batch as one version reads it: structured rows for a version with preprocessing, else the float
    matrix (N, *input_shape) its runtime takes."""
    structured = x.dtype.names is not None
    if takes_rows and not structured:
        assert table is not None
        return table.rows_from_matrix(x.reshape(len(x), -1))
    if structured and not takes_rows:
        return np.ascontiguousarray(x["numeric"]).reshape(len(x), *input_shape)
    return x


def count_unknown(unknown: np.ndarray) -> np.ndarray:
    """Per categorical column, how many rows held a value never seen in training."""
    return np.asarray(unknown).sum(axis=0, dtype=np.int64).reshape(-1)

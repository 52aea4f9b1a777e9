"""Rules shared by CSV and Parquet: column selection and record batch -> Chunk conversion.

Features become one float32 column each (bools as 0/1); the target becomes float64 numbers or text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelplane.data.formats import keep_rows, listing
from modelplane.data.sources import Chunk, SourceSchema
from modelplane.errors import Invalid


def tabular_schema(fmt: str, features: list[str], target: str | None) -> SourceSchema:
    """Tabular sources know their columns but not the task: that is decided from the target values."""
    return SourceSchema(
        format=fmt,
        feature_names=features,
        feature_shape=(len(features),),
        feature_dtype="float32",
        target_name=target,
        image_shape=None,
        class_names=None,
        task_hint=None,
    )


def select_features(
    names: list[str], *, target: str | None, drop_columns: list[str], file_name: str
) -> list[str]:
    """Every column but the target and the dropped ones, after checking all named columns exist."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise Invalid(f"column '{name}' appears more than once in {file_name}; rename the duplicates")
        seen.add(name)
    if target is not None and target not in seen:
        raise Invalid(
            f"target column '{target}' not found in {file_name}; columns are: {listing(names)} "
            "(pass --target NAME)"
        )
    for name in drop_columns:
        if name not in seen:
            raise Invalid(
                f"column '{name}' to drop not found in {file_name}; columns are: {listing(names)} "
                "(fix --drop)"
            )
        if name == target:
            raise Invalid(f"column '{name}' is both the target and dropped; remove it from --drop")
    features = [name for name in names if name != target and name not in drop_columns]
    if not features:
        raise Invalid(f"no feature columns left in {file_name}; keep at least one column besides the target")
    return features


def rechunk(batches: Iterable[pa.RecordBatch], chunk_rows: int) -> Iterator[pa.Table]:
    """Regroup record batches of any size into tables of exactly chunk_rows rows (the last may be short)."""
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in batches:
        pending.append(batch)
        rows += batch.num_rows
        if rows < chunk_rows:
            continue
        table = pa.Table.from_batches(pending)
        full = rows - rows % chunk_rows
        for start in range(0, full, chunk_rows):
            yield table.slice(start, chunk_rows)
        pending = table.slice(full).to_batches()
        rows -= full
    if rows:
        yield pa.Table.from_batches(pending)


def table_chunk(
    table: pa.Table,
    features: list[str],
    target: str | None,
    first_row: int,
    drop_na: bool,
    *,
    parse_target: bool,
) -> Chunk | None:
    """One table of <= chunk_rows rows as a Chunk (`first_row` numbers its first row); None if all dropped."""
    x = np.empty((table.num_rows, len(features)), dtype=np.float32)
    missing: dict[str, np.ndarray] = {}
    for j, name in enumerate(features):
        values = pc.cast(table.column(name), pa.float64(), safe=False).to_numpy()
        x[:, j] = values
        missing[name] = np.isnan(values)
    numbers: np.ndarray | None = None  # a numeric target column, or a text one once converted
    text: pa.ChunkedArray | None = None
    if target is not None:
        column = table.column(target)
        if is_number(column.type):
            numbers = _writable(pc.cast(column, pa.float64(), safe=False).to_numpy())
            missing[target] = np.isnan(numbers)
        else:
            text = pc.cast(column, pa.string())
            if parse_target:
                text = pc.utf8_trim_whitespace(text)
            missing[target] = text.is_null().to_numpy()
    keep = keep_rows(missing, first_row=first_row, drop_na=drop_na, what="column")
    if keep is not None:
        if not keep.any():
            return None
        x = x[keep]
        numbers = None if numbers is None else numbers[keep]
        text = None if text is None else text.filter(pa.array(keep))
    if text is not None:
        numbers = _text_target(text, parse_target)
    return Chunk(features=x, target=numbers)


def _text_target(text: pa.ChunkedArray, parse_numbers: bool) -> np.ndarray:
    """Numbers as float64 when every value of the chunk is one (CSV only), else a numpy str array."""
    numbers: pa.ChunkedArray | None = None
    if parse_numbers:
        try:
            numbers = pc.cast(text, pa.float64())
        except pa.ArrowInvalid:  # one value is not a number, so the whole chunk's target is text
            numbers = None
    if numbers is not None:
        return _writable(numbers.to_numpy())
    return np.asarray(text.to_numpy(), dtype=np.str_)


def _writable(values: np.ndarray) -> np.ndarray:
    """Arrow hands out read-only views of its buffers; consumers (e.g. torch) expect writable arrays."""
    return np.require(values, requirements=["W"])


def is_number(kind: pa.DataType) -> bool:
    return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind))


def is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_dictionary(kind))


def text_message(column: str, value: str, *, row: int | None, mixed: bool) -> str:
    """The one message for text in a feature column; `mixed` when numbers came before it."""
    where = "" if row is None else f" at row {row}"
    if mixed:
        return (
            f"column '{column}' mixes numbers and text ('{value}'{where}); features must be numbers: "
            f"fix that value or drop the column with --drop {column}"
        )
    return (
        f"column '{column}' holds text (e.g. '{value}'{where}); features must be numbers: "
        f"encode it or drop it with --drop {column}"
    )

"""Rules shared by CSV and Parquet: column selection, regrouping record batches into chunks, the target
column, tables as float32 feature Chunks (`open_source`), and for batch prediction the columns checked
against the model and tables turned into float32 feature blocks.

Features become one float32 column each (bools as 0/1); the target becomes float64 numbers or text.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelplane.data.convert import is_number, is_text
from modelplane.data.formats import BadValue, keep_rows, listing
from modelplane.data.inputs import InputChunk, InputLayout
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


def feature_chunks(
    tables: Iterable[pa.Table], features: list[str], target: str | None, *, drop_na: bool, parse_target: bool
) -> Iterator[Chunk]:
    """Tables of a file as float32 feature Chunks (rows counted from 1 for messages); a value that is not a
    number stops the stream, naming column, row and value."""
    row = 1
    try:
        for table in tables:
            chunk = table_chunk(table, features, target, row, drop_na, parse_target=parse_target)
            row += table.num_rows
            if chunk is not None:
                yield chunk
    except BadValue as exc:
        raise Invalid(
            f"{exc}; fix that value or leave the column out: these rows are read as numbers"
        ) from exc


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
    raw = None
    if target is not None:
        raw, missing[target] = read_target(table.column(target), trim=parse_target)
    keep = keep_rows(missing, first_row=first_row, drop_na=drop_na, what="column")
    if keep is not None:
        if not keep.any():
            return None
        x = x[keep]
    values = None if raw is None else target_values(raw, keep, parse_numbers=parse_target)
    return Chunk(features=x, target=values)


def read_target(column: pa.ChunkedArray, *, trim: bool) -> tuple[np.ndarray | pa.ChunkedArray, np.ndarray]:
    """A target column's values (float64 numbers, or text still in Arrow) and which of them are missing."""
    if is_number(column.type):
        numbers = _writable(pc.cast(column, pa.float64(), safe=False).to_numpy())
        return numbers, np.isnan(numbers)
    text = pc.cast(column, pa.string())
    if trim:
        text = pc.utf8_trim_whitespace(text)
    return text, text.is_null().to_numpy()


def target_values(
    raw: np.ndarray | pa.ChunkedArray, keep: np.ndarray | None, *, parse_numbers: bool
) -> np.ndarray:
    """The kept rows of a target read by `read_target`, as `TargetCollector.add` takes them."""
    if isinstance(raw, np.ndarray):
        return raw if keep is None else raw[keep]
    text = raw if keep is None else raw.filter(pa.array(keep))
    return _text_target(text, parse_numbers)


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


def input_layout(
    fmt: str,
    schema: pa.Schema,
    rows: int | None,
    file_name: str,
    *,
    id_column: str | None,
    input_shape: Sequence[int],
    trained_names: Sequence[str] | None,
    roles: Mapping[str, str] | None = None,
) -> InputLayout:
    """A file of rows to predict checked against the model by its Arrow schema: feature columns, their
    types, the id column's type. With `roles` (a model with preprocessing) raw columns of any role are
    read, and each value is checked as it is converted."""
    if rows == 0:
        raise Invalid(f"{file_name} holds no rows to predict")
    features = _input_features(schema.names, id_column, list(input_shape), trained_names, file_name)
    for name in features if roles is None else ():
        kind = schema.field(name).type
        if not (is_number(kind) or pa.types.is_boolean(kind) or pa.types.is_null(kind)):
            what = "text" if is_text(kind) else f"values of type {kind}"
            raise Invalid(
                f"column '{name}' of {file_name} holds {what}; the model reads numbers: convert the column"
            )
    id_type = None
    if id_column is not None:
        kind = schema.field(id_column).type
        id_type = "int64" if pa.types.is_integer(kind) else "float64" if is_number(kind) else "string"
    ignored = [name for name in schema.names if name not in {*features, id_column}]
    kept = dict(roles) if roles is not None else None
    return InputLayout(fmt, features, list(input_shape), id_column, id_type, rows, ignored, kept)


def _input_features(
    columns: list[str],
    id_column: str | None,
    input_shape: list[int],
    trained_names: Sequence[str] | None,
    file_name: str,
) -> list[str]:
    """The feature columns in the model's order. With the names the model was trained on, every one must be
    in the file, matched by name (order does not matter; other columns, such as the target, are ignored);
    without them (a model trained on unnamed arrays), all columns but the id in file order, exactly as many
    as the model reads."""
    duplicated = sorted({name for name in columns if columns.count(name) > 1})
    if duplicated:
        raise Invalid(f"{file_name} has columns named twice ({listing(duplicated)}); rename the duplicates")
    if id_column is not None and id_column not in columns:
        raise Invalid(
            f"id column '{id_column}' not found in {file_name}; its columns are {listing(columns)} "
            "(fix --id-column)"
        )
    names = [name for name in columns if name != id_column]
    width = math.prod(input_shape)
    if trained_names:
        missing = [name for name in trained_names if name not in set(names)]
        if missing:
            raise Invalid(
                f"{file_name} lacks {len(missing)} of the {len(trained_names)} columns the model was trained "
                f"on: {listing(missing)}; add them (columns are matched by name, in any order)"
            )
        return list(trained_names)
    if len(names) != width:
        hint = "; name the extra id column with --id-column" if len(names) == width + 1 else ""
        raise Invalid(
            f"{file_name} has {len(names)} feature columns but the model reads {width} "
            f"(input shape {input_shape}){hint}"
        )
    return names


def input_chunks(
    tables: Iterable[pa.Table], layout: InputLayout, first_row: int, file_name: str
) -> Iterator[InputChunk]:
    """Each table of rows to predict as float32 features and ids; `first_row` numbers the first table's
    first row, for messages."""
    try:
        for table in tables:
            yield (
                _features_of(table, layout, first_row, file_name),
                _ids_of(table, layout, first_row, file_name),
            )
            first_row += table.num_rows
    except pa.ArrowInvalid as exc:  # raised while reading; our own errors are Invalid
        raise Invalid(
            f"cannot read {file_name} after row {first_row - 1} ({exc}); feature values must be numbers and "
            "every row must hold one value per column"
        ) from exc


def _features_of(table: pa.Table, layout: InputLayout, first_row: int, file_name: str) -> np.ndarray:
    if layout.roles is not None:
        return _raw_rows(table, layout, first_row)
    return _float_rows(table, layout, first_row, file_name)


def _raw_rows(table: pa.Table, layout: InputLayout, first_row: int) -> np.ndarray:
    """Structured rows of raw columns (tables/signature.py) for a model with preprocessing: each column
    converted by its role exactly as ingest stores it, so serving reads what training read."""
    from modelplane.data.catalog import table_values
    from modelplane.data.convert import convert, stored_type
    from modelplane.tables.columns import Column
    from modelplane.tables.signature import TableSignature

    assert layout.roles is not None
    columns = [Column(name, layout.roles[name]) for name in layout.features]  # type: ignore[arg-type]
    converted = pa.table(
        {
            column.name: convert(
                table.column(column.name),
                column.role,
                stored_type(column.role),
                column=column.name,
                first_row=first_row,
            )
            for column in columns
        }
    )
    return TableSignature(tuple(columns)).rows(table_values(converted, columns))


def _float_rows(table: pa.Table, layout: InputLayout, first_row: int, file_name: str) -> np.ndarray:
    """float32 rows in the model's column order. Filled column by column into a (features, rows) block and
    transposed once: writing columns into a row-major array directly is ~4x slower."""
    block = np.empty((len(layout.features), table.num_rows), dtype=np.float32)
    for j, name in enumerate(layout.features):
        column = table.column(name)
        if column.null_count:
            row = first_row + int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
            raise Invalid(
                f"column '{name}' of {file_name} is empty at row {row}; fill it or leave the row out"
            )
        if not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)):
            column = column.cast(pa.float64())
        block[j] = column.to_numpy()
    missing = np.isnan(block)
    if missing.any():
        j, i = np.argwhere(missing)[0]
        raise Invalid(
            f"column '{layout.features[j]}' of {file_name} is NaN at row {first_row + int(i)}; "
            "fill it or leave the row out"
        )
    return np.ascontiguousarray(block.T).reshape((table.num_rows, *layout.input_shape))


def _ids_of(table: pa.Table, layout: InputLayout, first_row: int, file_name: str) -> pa.Array | None:
    if layout.id_column is None:
        return None
    ids = table.column(layout.id_column).combine_chunks()
    if ids.null_count:
        row = first_row + int(np.flatnonzero(ids.is_null().to_numpy(zero_copy_only=False))[0])
        raise Invalid(
            f"id column '{layout.id_column}' of {file_name} is empty at row {row}; give every row an id"
        )
    return ids

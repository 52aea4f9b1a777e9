"""A CSV, TSV or Parquet file opened as a table with column roles: its columns checked, their roles inferred
from the first rows (or taken from the version it extends), then its rows streamed in chunks converted to
the stored types (modelplane.data.convert), with the target beside them.

Missing feature values are kept (models impute them at training); `--drop-na` drops the rows that have one.
A missing target value is an error unless `--drop-na` drops its row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from modelplane.data.convert import convert, stored_type
from modelplane.data.formats import BadValue, keep_rows
from modelplane.data.formats.registry import DataFormat, TableReader
from modelplane.data.formats.tabular import read_target, target_values
from modelplane.data.roles import INFER_ROWS, RoleOverrides, check_names, infer_roles
from modelplane.errors import Invalid
from modelplane.tables.columns import Column, feature_columns

Hint = Callable[[Column], str]
"""How to fix a value that a column's role cannot read, given the column."""


@dataclass(frozen=True)
class TableChunk:
    """At most chunk_rows rows: feature and id columns in their stored types, target as
    `TargetCollector.add` takes it (or None)."""

    table: pa.Table
    target: np.ndarray | None


@dataclass
class TableSource:
    """An opened table: its columns, how they are stored, and a lazy stream of its rows."""

    format: str
    columns: list[Column]  # feature and id columns, in file order
    schema: pa.Schema  # the stored type of each of `columns`
    target_name: str | None
    empty: list[str]  # left out for holding no value
    chunks: Iterator[TableChunk]
    notices: list[str] = field(default_factory=list)


def stored_schema(columns: Sequence[Column], integer_ids: frozenset[str] = frozenset()) -> pa.Schema:
    return pa.schema(
        [pa.field(c.name, stored_type(c.role, integer_id=c.name in integer_ids)) for c in columns]
    )


def open_table(
    path: Path,
    fmt: DataFormat,
    *,
    target: str | None,
    ignore: Sequence[str],
    overrides: RoleOverrides,
    drop_na: bool,
    chunk_rows: int,
) -> TableSource:
    """Open `path` with roles inferred from its first rows (and `overrides`); every problem found in
    those rows is reported in one `Invalid`."""
    reader = fmt.table_reader()
    names = reader.table_columns(path)
    check_names(names, target=target, ignore=ignore, overrides=overrides, file_name=path.name)
    candidates = [name for name in names if name != target and name not in ignore]
    if not candidates:
        raise Invalid(f"no feature columns left in {path.name}; keep at least one column besides the target")
    with closing(
        reader.read_table(path, dict.fromkeys(candidates, pa.string()), chunk_rows=INFER_ROWS)
    ) as first:
        sample = next(first, None)
    if sample is None or sample.num_rows == 0:
        raise Invalid(f"{path.name} holds no rows; nothing to add")
    inferred = infer_roles(
        sample, overrides=overrides, complete=sample.num_rows < INFER_ROWS, file_name=path.name
    )
    schema = stored_schema(inferred.columns, inferred.integer_ids)
    declared = [c for c in inferred.columns if c.name in overrides.declared()]  # inferred roles read them
    problems = inferred.problems + _unreadable(sample, declared, schema, _declare_hint)
    if problems:
        raise Invalid("; ".join(problems))
    _check_features(inferred.columns, path.name)
    chunks = _stream(
        reader,
        path,
        inferred.columns,
        schema,
        target,
        drop_na,
        chunk_rows,
        _declare_hint,
        text_cells=fmt.text_cells,
    )
    return TableSource(fmt.name, inferred.columns, schema, target, inferred.empty, chunks, inferred.notices)


def open_table_as(
    path: Path,
    fmt: DataFormat,
    *,
    columns: list[Column],
    schema: pa.Schema,
    target: str | None,
    drop_na: bool,
    chunk_rows: int,
    hint: Hint,
) -> TableSource:
    """Open `path` with the columns, roles and stored types a version already has (for `--append`): no
    inference; the file's columns are checked by the caller, and those not named are not read."""
    reader = fmt.table_reader()
    chunks = _stream(
        reader, path, columns, schema, target, drop_na, chunk_rows, hint, text_cells=fmt.text_cells
    )
    return TableSource(fmt.name, columns, schema, target, [], chunks)


def _declare_hint(column: Column) -> str:
    name = column.name
    if column.role == "id":
        return (
            f"fix the value: the first {INFER_ROWS:,} rows of '{name}' hold integer ids, so every id must "
            "be one"
        )
    return (
        f"fix the value, declare another role for the column (e.g. --categorical {name}) "
        f"or leave it out with --ignore {name}"
    )


def _check_features(columns: Sequence[Column], file_name: str) -> None:
    if not feature_columns(columns):
        ids = ", ".join(c.name for c in columns)
        raise Invalid(
            f"no feature columns left in {file_name} (ids: {ids or 'none'}); keep at least one feature "
            "column besides the target, or declare an id column's role (e.g. --numeric NAME)"
        )


def _unreadable(sample: pa.Table, columns: Sequence[Column], schema: pa.Schema, hint: Hint) -> list[str]:
    """What the first rows hold that the columns' roles cannot read, one problem per column."""
    problems = []
    for column in columns:
        try:
            convert(
                sample.column(column.name),
                column.role,
                schema.field(column.name).type,
                column=column.name,
                first_row=1,
            )
        except BadValue as exc:
            problems.append(f"{exc}; {hint(column)}")
        except Invalid as exc:
            problems.append(str(exc))
    return problems


def _read_types(columns: Sequence[Column], schema: pa.Schema, target: str | None) -> dict[str, pa.DataType]:
    """What a reader that converts while reading (CSV) is asked for: numeric columns and integer ids as
    such (Arrow's fast path), everything else as text for `convert`."""
    wanted = {
        c.name: schema.field(c.name).type if c.role in ("numeric", "id") else pa.string() for c in columns
    }
    if target is not None:
        wanted[target] = pa.string()
    return wanted


def _stream(
    reader: TableReader,
    path: Path,
    columns: list[Column],
    schema: pa.Schema,
    target: str | None,
    drop_na: bool,
    chunk_rows: int,
    hint: Hint,
    *,
    text_cells: bool,
) -> Iterator[TableChunk]:
    by_name = {c.name: c for c in columns}
    features = [c.name for c in feature_columns(columns)]
    row = 1
    try:
        for raw in reader.read_table(path, _read_types(columns, schema, target), chunk_rows=chunk_rows):
            table = _converted(raw, columns, schema, row)
            chunk = _chunk(table, raw, features, target, row, drop_na, text=text_cells)
            row += raw.num_rows
            if chunk is not None:
                yield chunk
    except BadValue as exc:
        raise Invalid(f"{exc}; {hint(by_name[exc.column])}") from exc


def _converted(raw: pa.Table, columns: Sequence[Column], schema: pa.Schema, first_row: int) -> pa.Table:
    arrays = [
        convert(raw.column(c.name), c.role, schema.field(c.name).type, column=c.name, first_row=first_row)
        for c in columns
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def _chunk(
    table: pa.Table,
    raw: pa.Table,
    features: list[str],
    target: str | None,
    first_row: int,
    drop_na: bool,
    *,
    text: bool,
) -> TableChunk | None:
    """The converted rows with their target (text cells: trimmed, and numbers when all are); rows dropped
    by --drop-na left out (None: all of them)."""
    missing: dict[str, np.ndarray] = {}
    values = None
    if target is not None:
        values, missing[target] = read_target(raw.column(target), trim=text)
    if drop_na:
        for name in features:
            missing[name] = table.column(name).is_null().to_numpy(zero_copy_only=False)
    keep = keep_rows(missing, first_row=first_row, drop_na=drop_na, what="target column")
    if keep is not None:
        if not keep.any():
            return None
        table = table.filter(pa.array(keep))
    labels = None if values is None else target_values(values, keep, parse_numbers=text)
    return TableChunk(table, labels)

"""Named columns as a user hands them to `predict`: rows as dicts, a dict of columns, a pandas DataFrame,
or a CSV/Parquet file, turned into one 1-D array per column name (the serving signature then matches them
by name and reads each by its role), and into JSON for the HTTP client.

Light on purpose (numpy; pyarrow only when a file is read; pandas never imported): the Client uses it.
"""

from __future__ import annotations

import datetime as dt
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelplane.errors import Invalid


def named_columns(rows: Any) -> dict[str, np.ndarray] | None:
    """Records, a dict of columns or a DataFrame as one array per column; None for anything else (an
    array, nested lists: one float matrix)."""
    if _is_frame(rows):
        return {str(name): _column(str(name), rows[name].to_numpy()) for name in rows.columns}
    if isinstance(rows, Mapping):
        return {_name(name): _column(_name(name), values) for name, values in rows.items()}
    if isinstance(rows, Sequence) and not isinstance(rows, str) and rows and isinstance(rows[0], Mapping):
        return _records(rows)
    return None


def _is_frame(rows: Any) -> bool:
    """A pandas DataFrame, told without importing pandas (unimported, nothing can be one)."""
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(rows, pandas.DataFrame)


def _name(name: Any) -> str:
    if not isinstance(name, str):
        raise Invalid(f"column names must be text, got {name!r} ({type(name).__name__})")
    return name


def _column(name: str, values: Any) -> np.ndarray:
    """One column's values as a 1-D array: numbers and booleans stay numpy; anything else becomes an object
    array of plain Python values (pandas' NA/NaT as None, dates and times as ISO text)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence | np.ndarray):
        raise Invalid(f"column {name!r} must be a list of values (one per row), got {type(values).__name__}")
    if isinstance(values, np.ndarray) and values.ndim == 1:
        if values.dtype.kind in "fiub":
            return values
        if values.dtype.kind == "M":
            text = np.datetime_as_string(values)
            return _objects([None if v == "NaT" else v for v in text.tolist()])
        values = values.tolist()
    return _objects([_plain(v) for v in values])


def _objects(items: list[Any]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, dt.date):  # datetimes and pandas' Timestamp too
        return value.isoformat()
    if value is not None and type(value).__name__ in ("NaTType", "NAType"):  # pandas' missing markers
        return None
    return value


def _records(rows: Sequence[Any]) -> dict[str, np.ndarray]:
    """Rows as dicts: a column some rows leave out is missing (None) in those rows."""
    seen: dict[str, None] = {}
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            raise Invalid(
                f"row {number} is a {type(row).__name__}; give every row as a dict of column: value, "
                "or every row as a list of numbers"
            )
        seen.update(dict.fromkeys(_name(name) for name in row))
    return {name: _column(name, [row.get(name) for row in rows]) for name in seen}


def read_columns(path: Path) -> dict[str, np.ndarray]:
    """Every column of a CSV/TSV or Parquet file, by name, as read (text stays text, empty is missing;
    dates and times as ISO text)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from modelplane.data.formats.delimited import delimiter_of

    if path.suffix.lower() in (".parquet", ".pq"):
        table = pq.read_table(path)
    else:
        try:
            table = pacsv.read_csv(
                path,
                parse_options=pacsv.ParseOptions(delimiter=delimiter_of(path)),
                convert_options=pacsv.ConvertOptions(strings_can_be_null=True),
            )
        except pa.ArrowInvalid as exc:
            raise Invalid(f"cannot read '{path.name}' as a table: {exc}") from None
    columns = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_temporal(column.type):
            columns[name] = _objects([_plain(v) for v in column.to_pylist()])
        else:
            columns[name] = _column(name, column.to_numpy(zero_copy_only=False))
    return columns


def json_columns(columns: Mapping[str, np.ndarray]) -> dict[str, list[Any]]:
    """Columns (as `named_columns` or `read_columns` give them) as JSON-ready lists, NaN as null."""
    return {name: [_json_value(v) for v in values.tolist()] for name, values in columns.items()}


def _json_value(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value

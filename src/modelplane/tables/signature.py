"""The named columns a tabular model takes, and requests turned into the rows it reads.

A model fitted on a table reads its raw columns through its preprocessing graph, whose inputs are three
blocks: `numeric` (numeric and boolean columns, float32), `categorical` (strings) and `datetime` (epoch
seconds, float64), each in training order. A batch of rows travels through serving as one numpy
*structured* array with one field per block (`TableSignature.rows`): it concatenates and slices like any
array, so the dynamic batcher merges table requests exactly as it merges tensors.

Every request form is matched to the columns **by name**: a missing column is refused naming it; a column
the model does not read is ignored (reported back) or refused when `strict`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelplane.errors import Invalid
from modelplane.tables.columns import Column, ColumnValues

BLOCKS = ("numeric", "categorical", "datetime")
_BLOCK_OF = {"numeric": "numeric", "boolean": "numeric", "categorical": "categorical", "datetime": "datetime"}
_BLOCK_DTYPE = {"numeric": np.float32, "categorical": object, "datetime": np.float64}
_TRUE = {"true", "yes", "1", "t", "y"}
_FALSE = {"false", "no", "0", "f", "n"}


def _listing(names: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"


@dataclass(frozen=True)
class TableSignature:
    """The feature columns of a tabular model, in training order."""

    columns: tuple[Column, ...]

    def __post_init__(self) -> None:
        if any(not column.is_feature for column in self.columns):
            raise ValueError("a signature lists feature columns only (no ids)")

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    def block(self, name: str) -> list[Column]:
        """The columns of one block (`numeric`, `categorical`, `datetime`), in training order."""
        return [column for column in self.columns if _BLOCK_OF[column.role] == name]

    @property
    def all_numeric(self) -> bool:
        """Whether one float matrix in training order can carry every column."""
        return not self.block("categorical") and not self.block("datetime")

    @property
    def rows_dtype(self) -> np.dtype:
        """The structured dtype of a batch of rows: one field per non-empty block."""
        fields = [(name, _BLOCK_DTYPE[name], (len(self.block(name)),)) for name in BLOCKS if self.block(name)]
        return np.dtype(fields)

    def rows(self, values: ColumnValues) -> np.ndarray:
        """Column values (see tables/columns.py) as one structured array of rows."""
        count = len(next(iter(values.values()))) if values else 0
        out = np.empty(count, dtype=self.rows_dtype)
        for name in BLOCKS:
            members = self.block(name)
            if members:
                block = out[name]
                for j, column in enumerate(members):
                    block[:, j] = values[column.name]
        if "categorical" in out.dtype.names:  # the graph reads a missing category as ""
            cats = out["categorical"]
            cats[cats == None] = ""  # noqa: E711 - elementwise comparison on an object array
        return out

    def rows_from_matrix(self, x: np.ndarray) -> np.ndarray:
        """One float matrix (N, k) in training order, for a model whose columns are all numbers."""
        if not self.all_numeric:
            raise Invalid(
                f"this model reads categorical or datetime columns ({_listing(self.text_columns())}); "
                'send rows as named columns, e.g. {"instances": [{"plan": "pro", ...}]}'
            )
        if x.ndim != 2 or x.shape[1] != len(self.columns):
            raise Invalid(
                f"rows have shape {list(x.shape[1:])} but the model reads {len(self.columns)} columns "
                f"({_listing(self.names)}); send them in that order, or as named columns"
            )
        out = np.empty(len(x), dtype=self.rows_dtype)
        out["numeric"] = x
        return out

    def text_columns(self) -> list[str]:
        return [column.name for column in self.columns if _BLOCK_OF[column.role] != "numeric"]

    def values_from_columns(
        self, given: Mapping[str, Any], *, strict: bool = False
    ) -> tuple[dict[str, np.ndarray], list[str]]:
        """Named columns (name -> sequence of values) as column values, plus the names ignored."""
        missing = [name for name in self.names if name not in given]
        if missing:
            raise Invalid(
                f"missing column(s) {_listing(missing)}; the model reads {_listing(self.names, 30)} "
                "(matched by name, in any order)"
            )
        ignored = [name for name in given if name not in set(self.names)]
        if ignored and strict:
            raise Invalid(f"column(s) the model does not read: {_listing(ignored)}; remove them")
        lengths = {len(given[name]) for name in self.names}
        if len(lengths) > 1:
            raise Invalid(f"columns have different lengths ({sorted(lengths)}); give one value per row")
        return {column.name: normalize(column, given[column.name]) for column in self.columns}, ignored

    def values_from_records(
        self, records: Sequence[Mapping[str, Any]], *, strict: bool = False
    ) -> tuple[dict[str, np.ndarray], list[str]]:
        """Rows given as objects (`{"plan": "pro", "tenure": 12}`) as column values, plus names ignored."""
        names = set(self.names)
        seen: dict[str, None] = {}
        for record in records:
            if not isinstance(record, Mapping):
                raise Invalid("give every row as an object of column: value, or every row as a list")
            seen.update(dict.fromkeys(record))
        # A column some rows leave out is missing in those rows (imputed); one no row has is refused.
        columns = {name: [record.get(name) for record in records] for name in self.names if name in seen}
        values, _ = self.values_from_columns(columns, strict=False)
        ignored = [name for name in seen if name not in names]
        if ignored and strict:
            raise Invalid(f"column(s) the model does not read: {_listing(ignored)}; remove them")
        return values, ignored


def normalize(column: Column, raw: Any) -> np.ndarray:
    """One column's values in the in-memory form of its role (tables/columns.py); a value that cannot be
    that is refused naming the column, the value and its row."""
    if column.role in ("numeric", "boolean"):
        return _numbers(column, raw)
    if column.role == "categorical":
        return _categories(raw)
    from modelplane.tables.datetimes import parse_datetimes

    numbers = isinstance(raw, np.ndarray) and raw.dtype.kind in "fiu"  # epoch seconds: kept numeric
    return parse_datetimes(raw if numbers else np.asarray(raw, dtype=object), column.name)


def _numbers(column: Column, raw: Any) -> np.ndarray:
    array = np.asarray(raw)
    if array.dtype.kind in "fiub":
        return array.astype(np.float64)
    out = np.empty(len(array), dtype=np.float64)
    for row, value in enumerate(array.tolist()):
        out[row] = _number(column, value, row + 1)
    return out


def _number(column: Column, value: Any, row: int) -> float:
    if value is None or value == "":
        return float("nan")
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and column.role == "boolean" and value.strip().lower() in _TRUE | _FALSE:
        return 1.0 if value.strip().lower() in _TRUE else 0.0
    try:
        return float(value)
    except (TypeError, ValueError):
        kind = "true/false" if column.role == "boolean" else "a number"
        raise Invalid(f"column '{column.name}' row {row}: {value!r} is not {kind}") from None


def _categories(raw: Any) -> np.ndarray:
    array = np.asarray(raw, dtype=object)
    out = np.empty(len(array), dtype=object)
    for row, value in enumerate(array.tolist()):
        if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
            out[row] = None
        elif isinstance(value, float) and value.is_integer():
            out[row] = str(int(value))  # 7.0 read from JSON is the category "7"
        else:
            out[row] = str(value)
    return out

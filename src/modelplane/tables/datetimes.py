"""Dates and times as float64 epoch seconds (UTC), NaN for missing: one parser for ingest and serving.

Accepted: ISO-8601 text (`2024-03-01`, `2024-03-01T12:30`, `2024-03-01 12:30:00.25`, with an optional `Z` or
`+HH:MM` / `-HHMM` offset; a value without an offset is UTC), Arrow timestamp and date values, and numbers (or
text holding only numbers), which already are epoch seconds. Parsing is vectorised (Arrow's ISO-8601 cast): a
million values take a fraction of a second. Fractions of a second are kept to the microsecond.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelplane.errors import Invalid

ISO_DATETIME = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$"
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_UNITS_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_NAIVE = pa.timestamp("us")
_AWARE = pa.timestamp("us", "UTC")


def parse_datetimes(values: Any, column: str, *, first_row: int = 1) -> np.ndarray:
    """`values` (a pyarrow Array / ChunkedArray or a numpy array) as float64 epoch seconds, NaN where a
    value is missing (None, null or empty text). A value that is not a date is an `Invalid` naming the
    column, the value and its row (`first_row` numbers the first value)."""
    array = _as_arrow(values, column)
    kind = array.type
    if pa.types.is_null(kind):
        return np.full(len(array), np.nan)
    if pa.types.is_timestamp(kind):
        return _float(pc.cast(array, pa.int64())) / _UNITS_PER_SECOND[kind.unit]  # UTC whatever the zone
    if pa.types.is_date32(kind):
        return _float(pc.cast(array, pa.int32())) * 86_400.0
    if pa.types.is_date64(kind):
        return _float(pc.cast(array, pa.int64())) / 1_000.0
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return _float(array)
    if pa.types.is_dictionary(kind):
        array = pc.cast(array, pa.string())
        kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _parse_text(array, column, first_row)
    raise Invalid(
        f"column '{column}' holds values of type {kind}, which are not dates; give ISO 8601 text such as "
        "2024-03-01 or 2024-03-01T12:30:00Z, or epoch seconds"
    )


def looks_like_dates(values: pa.Array | pa.ChunkedArray) -> bool:
    """Whether every non-empty value of a text column is an ISO-8601 date or date-time (at least one is):
    the rule that reads a text column as a datetime."""
    text = _blank_to_null(values)
    if text.null_count == len(text):
        return False
    if not pc.all(pc.match_substring_regex(text.drop_null(), ISO_DATETIME)).as_py():
        return False
    try:
        parse_datetimes(text, "")
    except Invalid:
        return False
    return True


def _as_arrow(values: Any, column: str) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if isinstance(values, pa.Array):
        return values
    array = np.asarray(values)
    if array.dtype.kind == "M":  # Arrow takes s, ms, us and ns
        array = array.astype("datetime64[us]")
    if array.dtype.kind == "O":  # JSON values: all text, or all numbers (epoch seconds), None for missing
        try:
            return pa.array(array, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise Invalid(
                f"column '{column}' mixes text with other values ({exc}); give dates as ISO 8601 text "
                "or epoch seconds, one kind per column"
            ) from exc
    return pa.array(array, from_pandas=True)


def _float(array: pa.Array) -> np.ndarray:
    floats = pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False)
    return np.require(floats, dtype=np.float64, requirements=["W"])


def _blank_to_null(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    text = pc.utf8_trim_whitespace(_as_arrow(values, ""))
    blank = pc.equal(text, "")
    return pc.if_else(blank, pa.scalar(None, text.type), text)


def _parse_text(array: pa.Array, column: str, first_row: int) -> np.ndarray:
    """Naive values are read as UTC and values with an offset converted to UTC, one cast for each kind
    (a million values in ~0.1 s). A failed Arrow cast costs ~20 good ones, so values are sorted by kind
    first, and only a column with a bad value pays for finding it."""
    text = _blank_to_null(array)
    present = text.drop_null()
    if len(present) and _NUMBER.fullmatch(str(present[0].as_py())):  # epoch seconds written as text
        return _float(_cast(text, pa.float64(), column, first_row))
    try:
        return _seconds(_cast_by_zone(text, pc.cast))
    except pa.ArrowInvalid:
        pass
    text = pc.replace_substring_regex(text, r"(\.\d{6})\d+", r"\1")  # Arrow refuses finer than microseconds
    return _seconds(_cast_by_zone(text, lambda part, kind: _cast(part, kind, column, first_row)))


def _cast_by_zone(text: pa.Array, cast: Callable[[pa.Array, pa.DataType], pa.Array]) -> pa.Array:
    """Microsecond ticks of `text`: values with a zone (after `YYYY-MM-DDTHH:MM` comes a `Z`, `+` or `-`)
    cast as such, the others as UTC."""
    tail = pc.utf8_slice_codeunits(text, 16)
    signs = pc.or_(pc.match_substring(tail, "+"), pc.match_substring(tail, "-"))
    zoned = pc.fill_null(pc.or_(signs, pc.ends_with(tail, "Z")), False)
    count = pc.sum(zoned).as_py() or 0
    if count == 0:
        return cast(text, _NAIVE)
    if count == len(text) - text.null_count:
        return cast(text, _AWARE)
    null = pa.scalar(None, text.type)
    naive = pc.cast(cast(pc.if_else(zoned, null, text), _NAIVE), pa.int64())
    aware = pc.cast(cast(pc.if_else(zoned, text, null), _AWARE), pa.int64())
    return pc.coalesce(naive, aware)


def _seconds(ticks: pa.Array) -> np.ndarray:
    """Microsecond timestamps (or their int64 ticks) as float64 seconds."""
    return _float(pc.cast(ticks, pa.int64())) / _UNITS_PER_SECOND["us"]


def _cast(text: pa.Array, kind: pa.DataType, column: str, first_row: int) -> pa.Array:
    """Cast, or name the first value that does not cast (found by bisection: a few casts, no Python loop
    over the values)."""
    try:
        return pc.cast(text, kind)
    except pa.ArrowInvalid:
        pass
    start, stop = 0, len(text)  # text[start:stop] holds a value that does not cast
    while stop - start > 1:
        middle = (start + stop) // 2
        try:
            pc.cast(text.slice(start, middle - start), kind)
            start = middle
        except pa.ArrowInvalid:
            stop = middle
    raise Invalid(_not_a_date(column, first_row + start, text[start].as_py()))


def _not_a_date(column: str, row: int, value: object) -> str:
    return (
        f"column '{column}' row {row}: '{value}' is not a date; use ISO 8601 such as 2024-03-01 or "
        "2024-03-01T12:30:00Z, or epoch seconds"
    )

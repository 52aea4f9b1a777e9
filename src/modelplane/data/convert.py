"""Arrow columns in the types a tabular dataset version stores, by role.

numeric -> float64, boolean -> bool, categorical -> string (numbers become their text: `7`, not `7.0`),
datetime -> float64 epoch seconds (UTC), id -> int64 or string. Missing values are nulls, never NaN, and
text is trimmed with an empty cell read as missing (as CSV files are read). A value a role cannot read is a
`BadValue` naming column, row and value; everything is vectorised (a few Arrow kernels per column).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelplane.data.formats import BadValue
from modelplane.errors import Invalid
from modelplane.tables.columns import Role
from modelplane.tables.datetimes import parse_datetimes

BOOLEAN_TEXT = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}
_KNOWN = pa.array(list(BOOLEAN_TEXT))
_TRUE = pa.array([word for word, value in BOOLEAN_TEXT.items() if value])
_BOOLEAN = "a boolean (true/false, yes/no, 1/0)"
_STORED: dict[str, pa.DataType] = {
    "numeric": pa.float64(),
    "boolean": pa.bool_(),
    "categorical": pa.string(),
    "datetime": pa.float64(),
}


def is_number(kind: pa.DataType) -> bool:
    return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind))


def is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_dictionary(kind))


def stored_type(role: Role, *, integer_id: bool = False) -> pa.DataType:
    """The Arrow type a column of `role` is stored as; ids hold int64 when all of them are integers."""
    if role == "id":
        return pa.int64() if integer_id else pa.string()
    return _STORED[role]


def blank_to_null(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Text trimmed, an empty value read as missing."""
    text = pc.utf8_trim_whitespace(_array(values))
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, text.type), text)


def convert(
    values: pa.Array | pa.ChunkedArray, role: Role, stored: pa.DataType, *, column: str, first_row: int
) -> pa.Array:
    """`values` of column `column` (its first value at row `first_row`) in the type `stored` for `role`."""
    array = _array(values)
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    kind = array.type
    if pa.types.is_null(kind):
        return pa.nulls(len(array), stored)
    if is_text(kind):
        array = blank_to_null(array)
    elif pa.types.is_floating(kind):
        array = _nan_to_null(array)
    if role == "datetime":
        return pa.array(parse_datetimes(array, column, first_row=first_row), pa.float64(), from_pandas=True)
    if role == "categorical" or (role == "id" and pa.types.is_string(stored)):
        return _to_text(array, column)
    if role == "boolean":
        return _to_boolean(array, column, first_row)
    expected = "a number" if role == "numeric" else "an integer id like the ids before it"
    if is_text(kind) or is_number(kind) or pa.types.is_boolean(kind):
        return _nan_to_null(_cast(array, stored, column, first_row, expected))
    raise Invalid(
        f"column '{column}' holds {kind} values, which a {role} column cannot hold; "
        f"leave it out with --ignore {column}"
    )


def _array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.chunk(0) if values.num_chunks == 1 else values.combine_chunks()
    return values


def _nan_to_null(array: pa.Array) -> pa.Array:
    if not pa.types.is_floating(array.type):
        return array
    nan = pc.is_nan(array)
    if not pc.any(nan).as_py():  # the usual case, and a CSV's always ("NaN" is read as missing)
        return array
    return pc.if_else(nan, pa.scalar(None, array.type), array)


def _to_text(array: pa.Array, column: str) -> pa.Array:
    try:
        return pc.cast(array, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise Invalid(
            f"column '{column}' holds {array.type} values, which cannot be read as text ({exc}); "
            f"leave it out with --ignore {column}"
        ) from exc


def _to_boolean(array: pa.Array, column: str, first_row: int) -> pa.Array:
    kind = array.type
    if pa.types.is_boolean(kind):
        return array
    if is_number(kind):
        known = pc.is_in(array, value_set=pa.array([0, 1], kind))
        _check(array, known, column, first_row, _BOOLEAN)
        return pc.cast(array, pa.bool_())
    if is_text(kind):
        lower = pc.utf8_lower(array)
        _check(array, pc.is_in(lower, value_set=_KNOWN), column, first_row, _BOOLEAN)
        return pc.if_else(pc.is_null(lower), pa.scalar(None, pa.bool_()), pc.is_in(lower, value_set=_TRUE))
    raise Invalid(
        f"column '{column}' holds {kind} values, which are not booleans; declare another role for it "
        f"or leave it out with --ignore {column}"
    )


def _check(array: pa.Array, known: pa.Array, column: str, first_row: int, expected: str) -> None:
    """Refuse the first present value that is not `known`."""
    bad = pc.and_(array.is_valid(), pc.invert(known)).to_numpy(zero_copy_only=False)
    if bad.any():
        index = int(np.argmax(bad))
        raise BadValue(column, first_row + index, str(array[index].as_py()), expected)


def _cast(array: pa.Array, kind: pa.DataType, column: str, first_row: int, expected: str) -> pa.Array:
    try:
        return pc.cast(array, kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        index = first_failure(array, lambda part: pc.cast(part, kind))
        raise BadValue(column, first_row + index, str(array[index].as_py()), expected) from None


def first_failure(array: pa.Array, attempt: Callable[[pa.Array], object]) -> int:
    """The index of the first value on which `attempt` (which raises ArrowInvalid on some value of
    `array`) fails, by bisection: a few vectorised attempts, no Python loop over the values."""
    start, stop = 0, len(array)
    while stop - start > 1:
        middle = (start + stop) // 2
        try:
            attempt(array.slice(start, middle - start))
            start = middle
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            stop = middle
    return start

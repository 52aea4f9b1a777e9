"""V2 tensor codec, transport-neutral: JSON `data` and raw little-endian bytes <-> numpy arrays.

REST (JSON and the binary tensor extension) and gRPC (`raw_input_contents`) share these rules, so a
tensor is accepted or refused the same way whichever way it arrives. Every refusal is `Invalid` naming
the tensor, what was expected and what was received.

Rules, on purpose strict so a client's mistake never turns into a silently wrong prediction:
- JSON `data` is row-major, flat or nested; its element count must equal the product of `shape`.
- Numbers only for numeric datatypes (strings are refused, not parsed); integers only for integer
  datatypes, and they must fit the datatype's range; JSON booleans only for BOOL (also when mixed with
  numbers, which numpy would silently read as 1 and 0).
- BF16 (no numpy dtype) is widened exactly to FP32 on the way in.
- Non-finite policy: with ``nonfinite="reject"`` a floating input holding NaN or ±Inf (including values
  that overflow the datatype, e.g. 1e39 as FP32) is refused; ``"allow"`` passes them to the model;
  ``"missing"`` (a model whose preprocessing fills in missing values) passes NaN, reads JSON null as NaN in
  floating data and as a missing element in BYTES data, and refuses ±Inf.
- Arrays decoded from raw bytes are zero-copy views of the request body where alignment allows
  (read-only when the body is immutable bytes).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from modelplane.errors import Invalid
from modelplane.serving.json_numbers import NumberText
from modelplane.serving.types import DATATYPES

Nonfinite = Literal["reject", "allow", "missing"]

# Raw V2 bytes are little-endian; on little-endian hosts these equal the native dtypes (no byte swap).
_WIRE: dict[str, np.dtype] = {
    name: dtype.newbyteorder("<") for name, dtype in DATATYPES.items() if name != "BYTES"
}
_INTEGER_LIMITS: dict[str, tuple[int, int]] = {
    name: (int(np.iinfo(dtype).min), int(np.iinfo(dtype).max))
    for name, dtype in DATATYPES.items()
    if dtype.kind in "iu"
}
# numpy dtype -> V2 name for outputs; dtypes are hashable, so this is one lookup per output.
_NAME_OF: dict[np.dtype, str] = {dtype: name for name, dtype in DATATYPES.items()}
# JSON element kinds each datatype accepts (numpy's inferred kind of the parsed list); JSON booleans only
# for BOOL, as Triton: true is not 1.0.
_JSON_KINDS: dict[str, str] = {
    name: ("b" if name == "BOOL" else "iu" if dtype.kind in "iu" else "iuf")
    for name, dtype in DATATYPES.items()
    if name != "BYTES"
}
_JSON_KINDS["BF16"] = "iuf"
KNOWN_DATATYPES = frozenset([*DATATYPES, "BF16"])
_LENGTH = struct.Struct("<I")
_MAX_ELEMENTS = 2**56


def check_datatype(name: str, datatype: Any) -> str:
    if not isinstance(datatype, str) or datatype not in KNOWN_DATATYPES:
        raise Invalid(
            f"input {name!r}: unknown datatype {datatype!r}; use one of {', '.join(sorted(KNOWN_DATATYPES))}"
        )
    return datatype


def check_shape(name: str, shape: Any) -> tuple[int, ...]:
    """A shape is a list of non-negative integers; `type(d) is int` refuses JSON booleans too."""
    if not isinstance(shape, list | tuple) or not all(type(d) is int and d >= 0 for d in shape):
        raise Invalid(f"input {name!r}: shape must be a list of non-negative integers, got {shape!r}")
    if element_count([d or 1 for d in shape]) >= _MAX_ELEMENTS:  # numpy refuses such shapes even empty
        raise Invalid(f"input {name!r}: shape {shape} is too large for any tensor")
    return tuple(shape)


def element_count(shape: Sequence[int]) -> int:
    count = 1
    for dim in shape:
        count *= dim
    return count


def _count_mismatch(name: str, shape: tuple[int, ...], got: int) -> Invalid:
    return Invalid(
        f"input {name!r}: shape {list(shape)} needs {element_count(shape)} elements, got {got}; "
        "send exactly one value per element, row-major"
    )


def _size_mismatch(name: str, datatype: str, shape: tuple[int, ...], need: int, got: int) -> Invalid:
    return Invalid(f"input {name!r}: shape {list(shape)} of {datatype} needs {need} bytes, got {got}")


def policy(nonfinite: Nonfinite, takes_missing: bool) -> Nonfinite:
    """The policy for one model: a model that fills in missing values reads NaN as missing (Inf is still
    refused) unless the server allows every non-finite value."""
    return "missing" if takes_missing and nonfinite == "reject" else nonfinite


def check_finite(name: str, array: np.ndarray, nonfinite: Nonfinite) -> None:
    if nonfinite == "allow" or array.dtype.kind != "f":
        return
    if nonfinite == "missing":
        if np.isinf(array).any():
            raise Invalid(
                f"input {name!r} holds Inf (or a value out of range for its datatype); send finite "
                "numbers (NaN or null marks a missing value)"
            )
    elif not np.isfinite(array).all():
        raise Invalid(
            f"input {name!r} holds NaN or Inf (or a value out of range for its datatype); this server "
            "rejects non-finite inputs: clean the data, or serve with nonfinite='allow'"
        )


def decode_json(
    name: str,
    datatype: str,
    shape: tuple[int, ...],
    data: Any,
    nonfinite: Nonfinite = "reject",
    *,
    booleans: bool = True,
) -> np.ndarray:
    """A tensor from JSON `data` (already parsed), checked against `datatype` and `shape`. `booleans=False`
    says the body holds no JSON true/false, which spares the per-element check for them."""
    if datatype == "BYTES":
        return _decode_json_bytes(name, shape, _as_list(data), nulls=nonfinite == "missing")
    if isinstance(data, NumberText):
        fast = _decode_number_text(name, datatype, shape, data, nonfinite)
        if fast is not None:
            return fast
        data = data.to_list()  # not a clean array of numbers: the checks below say what is wrong
    if not isinstance(data, list):
        data = [data]
    try:
        parsed = np.array(data)
    except ValueError as exc:  # ragged nesting
        raise Invalid(f"input {name!r}: data is not a rectangular array of numbers ({exc})") from None
    if parsed.dtype.kind == "O" and nonfinite == "missing" and datatype in _FLOATING:
        parsed = _numbers_or_null(name, datatype, parsed)
    if parsed.size != element_count(shape):
        raise _count_mismatch(name, shape, parsed.size)
    if datatype in _INTEGER_LIMITS and parsed.dtype.kind in "fO" and parsed.size:
        parsed = _exact_integers(name, datatype, data)
    elif booleans and datatype != "BOOL" and parsed.dtype.kind in "iuf" and bool in _element_types(data):
        raise Invalid(f"input {name!r} is {datatype}: data must hold numbers, got booleans (true/false)")
    if parsed.dtype.kind not in _JSON_KINDS[datatype] and parsed.size:
        expected = {"b": "true/false", "biu": "integers"}.get(_JSON_KINDS[datatype], "numbers")
        raise Invalid(f"input {name!r} is {datatype}: data must hold {expected}, got {_kind_name(parsed)}")
    if datatype in _INTEGER_LIMITS and parsed.size and parsed.dtype.kind != "b":
        _check_range(name, datatype, parsed.min(), parsed.max())
    target = DATATYPES["FP32" if datatype == "BF16" else datatype]
    if parsed.dtype == target:
        array = parsed.reshape(shape)
    else:
        with np.errstate(over="ignore"):  # overflow becomes Inf, refused below under "reject"
            array = parsed.astype(target).reshape(shape)
    check_finite(name, array, nonfinite)
    return array


_FLOATING = frozenset(["FP16", "FP32", "FP64", "BF16"])


def _as_list(data: Any) -> Any:
    return data.to_list() if isinstance(data, NumberText) else data


def _decode_number_text(
    name: str, datatype: str, shape: tuple[int, ...], data: NumberText, nonfinite: Nonfinite
) -> np.ndarray | None:
    """A large numeric array parsed straight into numpy; None when it needs the element-wise checks."""
    if datatype not in _FLOATING and datatype not in _INTEGER_LIMITS:
        return None
    target = DATATYPES["FP32" if datatype == "BF16" else datatype]
    parse_as: np.dtype
    if datatype in _INTEGER_LIMITS:
        parse_as = np.dtype(np.int64)  # then checked against the datatype's range
    else:
        parse_as = target if target.itemsize >= 4 else np.dtype(np.float32)
    parsed = data.array(parse_as)
    if parsed is None:
        return None
    if parsed.size != element_count(shape):
        raise _count_mismatch(name, shape, parsed.size)
    if datatype in _INTEGER_LIMITS and parsed.size:
        _check_range(name, datatype, parsed.min(), parsed.max())
    with np.errstate(over="ignore"):
        array = parsed.astype(target, copy=False).reshape(shape)
    check_finite(name, array, nonfinite)
    return array


def _element_types(data: Any) -> set[type]:
    """The Python types of a nested list's leaves: one C-level pass per innermost list."""
    if not isinstance(data, list):
        return {type(data)}
    if not data or not isinstance(data[0], list):
        return set(map(type, data))
    found: set[type] = set()
    for item in data:
        found |= _element_types(item)
    return found


def _numbers_or_null(name: str, datatype: str, parsed: np.ndarray) -> np.ndarray:
    """JSON numbers with nulls (missing values) as float64 with NaN; anything else is refused."""
    if not all(v is None or type(v) in (int, float, bool) for v in parsed.reshape(-1).tolist()):
        raise Invalid(f"input {name!r} is {datatype}: data must hold numbers or null, got other values")
    return parsed.astype(np.float64)


def _exact_integers(name: str, datatype: str, data: list[Any]) -> np.ndarray:
    """Integers parsed exactly: numpy reads int64 values mixed with uint64 ones as (lossy) float64."""
    items = np.array(data, dtype=object).reshape(-1).tolist()
    if not all(type(v) is int for v in items):
        raise Invalid(f"input {name!r} is {datatype}: data must hold integers, got non-integer values")
    _check_range(name, datatype, min(items), max(items))
    return np.array(items, dtype=DATATYPES[datatype])


def _check_range(name: str, datatype: str, smallest: Any, largest: Any) -> None:
    low, high = _INTEGER_LIMITS[datatype]
    if smallest < low or largest > high:
        raise Invalid(f"input {name!r}: a value is outside the {datatype} range [{low}, {high}]")


def _kind_name(parsed: np.ndarray) -> str:
    return {"U": "strings", "f": "non-integer numbers", "b": "booleans", "O": "mixed or null values"}.get(
        parsed.dtype.kind, "numbers"
    )


def _decode_json_bytes(name: str, shape: tuple[int, ...], data: Any, *, nulls: bool) -> np.ndarray:
    """`nulls`: JSON null is a missing element (None), for models that fill missing values in."""
    flat: list[Any] = []
    _flatten(data, flat)
    if len(flat) != element_count(shape):
        raise _count_mismatch(name, shape, len(flat))
    array = np.empty(len(flat), dtype=object)
    for i, item in enumerate(flat):
        if isinstance(item, str):
            array[i] = item.encode()
        elif not (item is None and nulls):
            raise Invalid(f"input {name!r} is BYTES: JSON data must hold strings, got {type(item).__name__}")
    return array.reshape(shape)


def _flatten(data: Any, into: list[Any]) -> None:
    if isinstance(data, list):
        for item in data:
            _flatten(item, into)
    else:
        into.append(data)


def decode_raw(
    name: str,
    datatype: str,
    shape: tuple[int, ...],
    raw: bytes | bytearray | memoryview,
    nonfinite: Nonfinite = "reject",
) -> np.ndarray:
    """A tensor from raw little-endian bytes (HTTP binary extension, gRPC raw contents)."""
    count = element_count(shape)
    if datatype == "BYTES":
        return deserialize_bytes(name, raw, count).reshape(shape)
    if datatype == "BF16":
        if len(raw) != 2 * count:
            raise _size_mismatch(name, datatype, shape, 2 * count, len(raw))
        # BF16 is the top half of an FP32: widening is exact.
        array = (np.frombuffer(raw, dtype="<u2").astype("<u4") << 16).view("<f4").reshape(shape)
    else:
        wire = _WIRE[datatype]
        if len(raw) != wire.itemsize * count:
            raise _size_mismatch(name, datatype, shape, wire.itemsize * count, len(raw))
        array = np.frombuffer(raw, dtype=wire).reshape(shape)
        if datatype == "BOOL":
            array = array.view(np.uint8) != 0  # any non-zero byte is true, as in C
        elif not array.flags.aligned:
            array = array.copy()
    check_finite(name, array, nonfinite)
    return array


def deserialize_bytes(name: str, raw: bytes | bytearray | memoryview, count: int) -> np.ndarray:
    """BYTES elements, each a 4-byte little-endian length then that many bytes."""
    view = memoryview(raw)
    if 4 * count > len(view):  # before allocating: every element takes at least its 4-byte length
        raise Invalid(
            f"input {name!r}: {count} BYTES elements need at least {4 * count} bytes, got {len(view)}"
        )
    array = np.empty(count, dtype=object)
    offset = 0
    for i in range(count):
        if offset + 4 > len(view):
            raise Invalid(f"input {name!r}: BYTES data ends after {i} of {count} elements")
        (length,) = _LENGTH.unpack_from(view, offset)
        offset += 4
        if offset + length > len(view):
            raise Invalid(f"input {name!r}: BYTES element {i} claims {length} bytes past the end of the data")
        array[i] = bytes(view[offset : offset + length])
        offset += length
    if offset != len(view):
        raise Invalid(f"input {name!r}: {count} BYTES elements take {offset} bytes but {len(view)} were sent")
    return array


def output_datatype(array: np.ndarray) -> str:
    """The V2 datatype of an output; text arrays (numpy str) travel as BYTES."""
    name = _NAME_OF.get(array.dtype)
    if name is not None:
        return name
    if array.dtype.kind in "US":
        return "BYTES"
    if array.dtype.name == "bfloat16":  # ml_dtypes.bfloat16, without importing it
        return "BF16"
    raise TypeError(f"the model returned dtype {array.dtype}, which has no V2 datatype")


def _as_bytes(item: Any) -> bytes:
    return item if isinstance(item, bytes) else str(item).encode()


def encode_raw(array: np.ndarray, datatype: str) -> bytes:
    """The raw little-endian bytes of an output (binary HTTP outputs, gRPC raw_output_contents)."""
    if datatype == "BYTES":
        parts = []
        for item in array.reshape(-1):
            data = _as_bytes(item)
            parts.append(_LENGTH.pack(len(data)))
            parts.append(data)
        return b"".join(parts)
    if datatype == "BF16":
        return np.ascontiguousarray(array).view("<u2").tobytes()
    return np.ascontiguousarray(array, dtype=_WIRE[datatype]).tobytes()


def json_data(name: str, array: np.ndarray, datatype: str) -> Any:
    """Flat row-major `data` for a JSON output: a contiguous numpy view orjson writes natively."""
    if datatype == "BF16":  # orjson has no bfloat16; FP32 holds every value exactly
        return array.astype(np.float32).reshape(-1)
    if datatype != "BYTES":
        return np.ascontiguousarray(array).reshape(-1)
    if array.dtype.kind == "U":  # class names: numpy writes the list at C speed
        return array.reshape(-1).tolist()
    try:
        return [item.decode() if isinstance(item, bytes) else str(item) for item in array.reshape(-1)]
    except UnicodeDecodeError:
        raise Invalid(
            f"output {name!r} holds bytes that are not UTF-8 text, which JSON cannot carry; "
            "request it as binary data"
        ) from None

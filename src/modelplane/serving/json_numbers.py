"""Large JSON bodies decoded without a Python object per number.

`orjson.loads` of a 50 MB body of 13 M numbers makes 13 M Python floats (~0.5 GB) and holds the GIL for
seconds. Here the numeric arrays under `"data"`, `"instances"` and `"inputs"` are cut out of the body as
text, the small rest is parsed by orjson, and each array is parsed straight into NumPy by Arrow's CSV
reader (multi-threaded, without the GIL; it checks that every row has the same width). Everything that
holds the GIL works on pieces of `_PIECE` bytes, so the event loop keeps answering other requests while a
worker thread decodes.

Only what is plainly an array of numbers (one level, or rows of numbers) takes this path. Anything else,
or anything Arrow refuses, is parsed the ordinary way, so the answer to a malformed body (and its error
message) is exactly what it would be without this module.
"""

from __future__ import annotations

import io
import re
import secrets
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.csv as pa_csv

from modelplane.errors import Invalid

LARGE_BODY = 256 * 1024  # smaller bodies parse faster with orjson alone
PIECE_ROWS = 1024  # rows of an answer written by one orjson call (a few ms of GIL)
_SMALLEST_ARRAY = 16 * 1024  # shorter arrays stay in the orjson parse
_PIECE = 1 << 20
_ARRAY_KEY = re.compile(rb'"(?:data|instances|inputs)"\s*:\s*\[')
_NUMERIC = b"0123456789eE+-.,[] \t\r\n"
_NOT_NUMERIC = re.compile(b"[^" + re.escape(_NUMERIC) + b"]")  # the same set: the scan and the search agree
_FIRST_ITEM = re.compile(rb"\[\s*(\[\s*)?[-0-9]")
_WHITESPACE = b" \t\r\n"
# Rows: "[[1,2],[3,4]]" -> ",,1,2\n,,3,4\n\n": every line starts with two empty fields, one per "[".
_ROWS = bytes.maketrans(b"[]", b",\n")
# Flat: "[1,2,3]" -> "1\n2\n3": one number per line.
_FLAT = bytes.maketrans(b",", b"\n")
_ARROW_TYPES = {"f": pa.float64(), "i": pa.int64(), "u": pa.int64()}


class NumberText:
    """A JSON array of numbers (flat, or rows of equal width) still as text, parsed once its type is known."""

    __slots__ = ("nested", "text")

    def __init__(self, text: memoryview, nested: bool) -> None:
        self.text = text
        self.nested = nested

    def array(self, dtype: np.dtype) -> np.ndarray | None:
        """The numbers as `dtype` (1-D, or 2-D rows); None when the text is not a clean array of numbers
        of that kind (then `to_list` and the ordinary checks say what is wrong)."""
        arrow_type = pa.float32() if dtype == np.float32 else _ARROW_TYPES.get(dtype.kind)
        if arrow_type is None:
            return None
        try:
            return _rows(self.text, arrow_type) if self.nested else _flat(self.text, arrow_type)
        except (pa.ArrowInvalid, ValueError):
            return None

    def to_list(self) -> Any:
        try:
            return orjson.loads(self.text)
        except orjson.JSONDecodeError as exc:
            raise Invalid(f"the request body is not valid JSON: {exc}") from None


def loads_large(body: bytes | bytearray | memoryview) -> Any:
    """`orjson.loads(body)`, except that large numeric arrays under `data`/`instances`/`inputs` come back
    as `NumberText`. Call from a worker thread: it takes a while, though never the GIL for long."""
    view = memoryview(body)
    marker = "\x00numbers-" + secrets.token_hex(8) + "-"  # no JSON text can forge it
    skeleton = io.BytesIO()
    spans: dict[str, NumberText] = {}
    done = 0
    for found in _array_starts(body):
        if found < done:
            continue
        span = _numeric_span(body, found)
        if span is None:
            continue
        start, stop, nested = span
        key = f"{marker}{len(spans)}"
        spans[key] = NumberText(view[start:stop], nested)
        skeleton.write(view[done:start])
        skeleton.write(orjson.dumps(key))
        done = stop
    if not spans:
        return orjson.loads(body)
    skeleton.write(view[done:])
    try:
        payload = orjson.loads(skeleton.getbuffer())
    except orjson.JSONDecodeError:  # malformed: the ordinary parse names the problem where it is
        return orjson.loads(body)
    if not _swap_in(payload, spans):  # a marker landed somewhere unexpected: parse the ordinary way
        return orjson.loads(body)
    return payload


def _array_starts(body: bytes | bytearray | memoryview) -> list[int]:
    """Offsets of the "[" after each `"data":`, `"instances":` or `"inputs":` key, scanned in pieces."""
    found: set[int] = set()
    overlap = 64  # longer than any key with its colon and spaces: a key cut by a piece's end is whole here
    for offset in range(0, len(body), _PIECE):
        for match in _ARRAY_KEY.finditer(body, max(0, offset - overlap), offset + _PIECE):
            found.add(match.end() - 1)
    return sorted(found)


def _numeric_span(body: bytes | bytearray | memoryview, start: int) -> tuple[int, int, bool] | None:
    """[start, stop) of the numeric array opening at `start`, and whether it holds rows; None if it is
    small, holds something other than numbers, or nests deeper than rows."""
    head = _FIRST_ITEM.match(body, start)
    if head is None:
        return None
    nested = head.group(1) is not None
    end = len(body)
    for offset in range(start, len(body), _PIECE):
        if bytes(body[offset : offset + _PIECE]).translate(None, _NUMERIC):  # something else is in here
            other = _NOT_NUMERIC.search(body, offset, offset + _PIECE)
            assert other is not None
            end = other.start()
            break
    stop = bytes(body[max(start, end - 64) : end]).rfind(b"]")
    if stop < 0:
        return None
    stop += max(start, end - 64) + 1
    if stop - start < _SMALLEST_ARRAY:
        return None
    return start, stop, nested


def _swap_in(payload: Any, spans: dict[str, NumberText]) -> bool:
    """Put each NumberText where its marker is (the places V2 and /v1 bodies keep tensors); False when a
    marker is anywhere else."""
    placed = 0

    def take(value: Any) -> Any:
        nonlocal placed
        if isinstance(value, str) and value in spans:
            placed += 1
            return spans[value]
        return value

    if isinstance(payload, dict):
        for key in ("instances", "inputs"):
            if key in payload:
                payload[key] = take(payload[key])
        inputs = payload.get("inputs")
        for item in inputs if isinstance(inputs, list) else ():
            if isinstance(item, dict) and "data" in item:
                item["data"] = take(item["data"])
    return placed == len(spans)


def _counts(text: memoryview, *marks: bytes) -> list[int]:
    """How often each mark occurs in `text`, counted a piece at a time."""
    counts = [0] * len(marks)
    for offset in range(0, len(text), _PIECE):
        piece = bytes(text[offset : offset + _PIECE])
        for i, mark in enumerate(marks):
            counts[i] += piece.count(mark)
    return counts


class _TranslatedText(io.RawIOBase):
    """`text` translated to CSV as Arrow reads it, a piece at a time: no translated copy of the whole body
    is ever held, and each piece holds the GIL for about a millisecond. `drop_last` drops the last
    translated byte (the outer "]" of rows); `tail` keeps the last two bytes before that."""

    def __init__(self, text: memoryview, table: bytes, delete: bytes, *, drop_last: bool) -> None:
        super().__init__()
        self._text = text
        self._table = table
        self._delete = delete
        self._drop_last = drop_last
        self._offset = 0
        self._left = memoryview(b"")
        self.tail = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left and self._offset < len(self._text):
            piece = bytes(self._text[self._offset : self._offset + _PIECE]).translate(
                self._table, self._delete
            )
            self._offset += _PIECE
            if self._offset >= len(self._text):
                self.tail = piece[-2:]
                if self._drop_last:
                    piece = piece[:-1]
            self._left = memoryview(piece)
        count = min(len(buffer), len(self._left))
        buffer[:count] = self._left[:count]
        self._left = self._left[count:]
        return count

    def first_line(self) -> bytes | None:
        """The first translated line, if it ends within the first piece."""
        piece = bytes(self._text[:_PIECE]).translate(self._table, self._delete)
        end = piece.find(b"\n")
        return piece[:end] if end >= 0 else None


def _batches(
    source: _TranslatedText, columns: list[str], arrow_type: pa.DataType
) -> Iterator[pa.RecordBatch]:
    """Arrow parses what `source` yields (in its own threads, without the GIL) a block at a time, into the
    system allocator (whose freed memory `memory.MemoryReturn` gives back)."""
    return iter(
        pa_csv.open_csv(
            source,
            read_options=pa_csv.ReadOptions(column_names=columns, block_size=_PIECE),
            parse_options=pa_csv.ParseOptions(ignore_empty_lines=False),
            convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(columns, arrow_type)),
            memory_pool=pa.system_memory_pool(),
        )
    )


def _rows(text: memoryview, arrow_type: pa.DataType) -> np.ndarray | None:
    opened, closed = _counts(text, b"[", b"]")
    rows = opened - 1
    source = _TranslatedText(text, _ROWS, _WHITESPACE, drop_last=True)
    first_line = source.first_line()
    if first_line is None or not first_line.startswith(b",,") or closed != opened or rows < 1:
        return None
    width = first_line.count(b",") - 1
    if width < 1:
        return None
    # Column-major: each column of a parsed block is one contiguous copy. Row slices of it (a batch)
    # are made row-major by the runtime, a batch at a time.
    out = np.empty((width, rows), dtype=_numpy_type(arrow_type)).T
    done = 0
    for batch in _batches(source, ["open", "row", *(f"c{i}" for i in range(width))], arrow_type):
        count = batch.num_rows
        brackets, numbers = batch.columns[:2], batch.columns[2:]
        if done + count > rows or any(c.null_count != count for c in brackets):
            return None
        if any(c.null_count for c in numbers):
            return None
        for j, column in enumerate(numbers):
            out[done : done + count, j] = column.to_numpy(zero_copy_only=False)
        done += count
    return out if done == rows and source.tail == b"\n\n" else None


def _flat(text: memoryview, arrow_type: pa.DataType) -> np.ndarray | None:
    opened, closed, commas = _counts(text, b"[", b"]", b",")
    if opened != 1 or closed != 1:
        return None
    out = np.empty(commas + 1, dtype=_numpy_type(arrow_type))
    done = 0
    for batch in _batches(
        _TranslatedText(text, _FLAT, _WHITESPACE + b"[]", drop_last=False), ["value"], arrow_type
    ):
        column = batch.column(0)
        if column.null_count or done + len(column) > len(out):
            return None
        out[done : done + len(column)] = column.to_numpy(zero_copy_only=False)
        done += len(column)
    return out if done == len(out) else None


def _numpy_type(arrow_type: pa.DataType) -> np.dtype:
    return np.dtype(arrow_type.to_pandas_dtype())

"""CSV/TSV: streamed with Arrow's block reader, one record batch (about chunk_rows rows) at a time.

Feature columns are declared as float64 up front, so a column of ints that turns to floats far into
the file still reads; a text value in a feature column is reported with its exact row.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from modelplane.data.formats.tabular import (
    rechunk,
    select_features,
    table_chunk,
    tabular_schema,
    text_message,
)
from modelplane.data.sources import Chunk, SourceSchema
from modelplane.errors import Invalid

_BLOCK_MIN = 1 << 20
_BLOCKS_PER_CHUNK = 16
_BLOCK_MAX = 1 << 28
_SAMPLE = 1 << 20
_CONVERSION_ERROR = re.compile(r"In CSV column #(\d+): CSV conversion error to (\w+)")


def open_csv(
    path: Path, *, delimiter: str, target: str | None, chunk_rows: int, drop_na: bool, drop_columns: list[str]
) -> tuple[SourceSchema, Iterator[Chunk]]:
    """Read the header (and infer bool columns from the first block), then stream typed batches."""
    read = pacsv.ReadOptions(block_size=_block_size(path, chunk_rows))
    parse = pacsv.ParseOptions(delimiter=delimiter)
    try:
        with pacsv.open_csv(path, read_options=read, parse_options=parse) as reader:
            inferred = reader.schema
    except pa.ArrowInvalid as exc:
        raise Invalid(
            f"cannot parse {path.name} ({exc}); fix the file: its first line names the columns "
            "and every row holds one value per column"
        ) from exc
    features = select_features(inferred.names, target=target, drop_columns=drop_columns, file_name=path.name)
    types: dict[str, pa.DataType] = {
        name: pa.bool_() if pa.types.is_boolean(inferred.field(name).type) else pa.float64()
        for name in features
    }
    if target is not None:
        types[target] = pa.string()
    convert = pacsv.ConvertOptions(column_types=types, include_columns=list(types), strings_can_be_null=True)
    schema = tabular_schema("csv", features, target)
    stream = _stream_csv(path, read, parse, convert, inferred.names, features, target, chunk_rows, drop_na)
    return schema, stream


def _block_size(path: Path, chunk_rows: int) -> int:
    """Bytes per read block: Arrow reads ~32 blocks ahead, so a block is ~1/16 of a chunk's bytes.

    That keeps read-ahead near two chunks; a block must also hold the longest line, hence 4x the
    longest line sampled.
    """
    with path.open("rb") as handle:
        sample = handle.read(_SAMPLE)
    lines = sample.split(b"\n")
    chunk_bytes = chunk_rows * len(sample) / max(1, len(lines) - 1)
    wanted = max(int(chunk_bytes / _BLOCKS_PER_CHUNK), 4 * max(len(line) for line in lines), _BLOCK_MIN)
    return min(wanted, _BLOCK_MAX)


def _stream_csv(
    path: Path,
    read: pacsv.ReadOptions,
    parse: pacsv.ParseOptions,
    convert: pacsv.ConvertOptions,
    columns: list[str],
    features: list[str],
    target: str | None,
    chunk_rows: int,
    drop_na: bool,
) -> Iterator[Chunk]:
    row = 1
    try:
        with pacsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert) as reader:
            for table in rechunk(reader, chunk_rows):
                chunk = table_chunk(table, features, target, row, drop_na, parse_target=True)
                row += table.num_rows
                if chunk is not None:
                    yield chunk
    except pa.ArrowInvalid as exc:  # raised by Arrow while reading; our own errors are Invalid
        raise _csv_error(exc, path, read, parse, columns, row) from exc


def _csv_error(
    exc: pa.ArrowInvalid,
    path: Path,
    read: pacsv.ReadOptions,
    parse: pacsv.ParseOptions,
    columns: list[str],
    row: int,
) -> Invalid:
    """Turn Arrow's conversion error (column index, no row) into one naming column, value and row."""
    match = _CONVERSION_ERROR.search(str(exc))
    if match is None:
        return Invalid(f"cannot parse {path.name} after row {row - 1} ({exc}); fix the file")
    column = columns[int(match.group(1))]
    found = _first_bad_value(path, read, parse, column, as_bool=match.group(2) == "bool")
    if found is None:
        return Invalid(f"cannot convert column '{column}' of {path.name} ({exc}); fix the file")
    bad_row, value, after_numbers = found
    return Invalid(text_message(column, value, row=bad_row, mixed=after_numbers))


def _first_bad_value(
    path: Path, read: pacsv.ReadOptions, parse: pacsv.ParseOptions, column: str, *, as_bool: bool
) -> tuple[int, str, bool] | None:
    """Rescan one column as text to find the first value that is not a number: (row, value, numbers seen)."""
    convert = pacsv.ConvertOptions(
        column_types={column: pa.string()}, include_columns=[column], strings_can_be_null=True
    )
    accepted = pa.array(sorted(set(convert.true_values) | set(convert.false_values)))
    row = 1
    seen_value = False
    with pacsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert) as reader:
        for batch in reader:
            values = pc.utf8_trim_whitespace(batch.column(0))
            if not _all_parse(values, as_bool, accepted):
                # Bisect with vectorized checks: values[:good] parse, values[:bad] do not.
                good, bad = 0, len(values)
                while bad - good > 1:
                    middle = (good + bad) // 2
                    if _all_parse(values.slice(good, middle - good), as_bool, accepted):
                        good = middle
                    else:
                        bad = middle
                seen_value = seen_value or values.slice(0, good).null_count < good
                return row + good, str(values[good].as_py()), seen_value
            seen_value = seen_value or values.null_count < len(values)
            row += batch.num_rows
    return None


def _all_parse(values: pa.Array, as_bool: bool, accepted: pa.Array) -> bool:
    """Whether every non-null value converts the way the CSV reader converts that column."""
    values = values.drop_null()
    if as_bool:
        return bool(pc.all(pc.is_in(values, value_set=accepted)).as_py() is not False)
    try:
        pc.cast(values, pa.float64())
    except pa.ArrowInvalid:
        return False
    return True

"""CSV/TSV: streamed with Arrow's block reader, one record batch (about chunk_rows rows) at a time, as a
table for dataset ingest, as float32 rows (`open_source`) and as rows to predict.

Columns are converted to the type asked for while they are read (numbers as float64 up front, so a column
of ints that turns to floats far into the file still reads); a value that does not convert is reported
as a `BadValue` with its exact row.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from modelplane.data.convert import first_failure
from modelplane.data.formats import BadValue
from modelplane.data.formats.tabular import (
    feature_chunks,
    input_chunks,
    input_layout,
    rechunk,
    select_features,
    tabular_schema,
)
from modelplane.data.inputs import InputChunk, InputLayout
from modelplane.data.sources import Chunk, SourceOptions, SourceSchema
from modelplane.errors import Invalid

_BLOCK_MIN = 1 << 20
_BLOCKS_PER_CHUNK = 16
_BLOCK_MAX = 1 << 28
_SAMPLE = 1 << 20
_CONVERSION_ERROR = re.compile(r"In CSV column #(\d+): CSV conversion error to (\w+)")
_INPUT_BLOCK = 8 << 20  # rows to predict: fixed read blocks (a dataset source sizes its own)
_COUNT_BLOCK = 1 << 20


def open_source(path: Path, options: SourceOptions) -> tuple[SourceSchema, Iterator[Chunk]]:
    """Every column but the target as a float32 feature (rows to predict): read the header (and which
    columns are bools, from the first block), then stream typed batches."""
    target = options.target
    header = _header(path)
    features = select_features(
        header.names, target=target, drop_columns=list(options.drop_columns), file_name=path.name
    )
    types: dict[str, pa.DataType] = {
        name: pa.bool_() if pa.types.is_boolean(header.field(name).type) else pa.float64()
        for name in features
    }
    if target is not None:
        types[target] = pa.string()
    tables = read_table(path, types, chunk_rows=options.chunk_rows)
    return tabular_schema("csv", features, target), feature_chunks(
        tables, features, target, drop_na=options.drop_na, parse_target=True
    )


def table_columns(path: Path) -> list[str]:
    return list(_header(path).names)


def read_table(
    path: Path, columns: Mapping[str, pa.DataType], *, chunk_rows: int
) -> Generator[pa.Table, None, None]:
    """Each column converted to its type while the file is read (text: trimmed later, empty = missing)."""
    read = pacsv.ReadOptions(block_size=_block_size(path, chunk_rows))
    parse = pacsv.ParseOptions(delimiter=delimiter_of(path))
    convert = pacsv.ConvertOptions(
        column_types=dict(columns), include_columns=list(columns), strings_can_be_null=True
    )
    return _stream_csv(path, read, parse, convert, _header(path).names, chunk_rows)


def _header(path: Path) -> pa.Schema:
    """Column names, and types as Arrow infers them from the first block."""
    parse = pacsv.ParseOptions(delimiter=delimiter_of(path))
    try:
        read = pacsv.ReadOptions(block_size=_block_size(path, 1))
        with pacsv.open_csv(path, read_options=read, parse_options=parse) as reader:
            return reader.schema
    except pa.ArrowInvalid as exc:
        raise Invalid(
            f"cannot parse {path.name} ({exc}); fix the file: its first line names the columns "
            "and every row holds one value per column"
        ) from exc


def delimiter_of(path: Path) -> str:
    """Tab for .tsv files, else comma."""
    return "\t" if path.suffix.lower() == ".tsv" else ","


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
    chunk_rows: int,
) -> Generator[pa.Table, None, None]:
    row = 1
    try:
        with pacsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert) as reader:
            for table in rechunk(reader, chunk_rows):
                yield table
                row += table.num_rows
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
    kind = match.group(2)
    found = _first_bad_value(path, read, parse, column, kind)
    if found is None:
        return Invalid(f"cannot convert column '{column}' of {path.name} ({exc}); fix the file")
    bad_row, value = found
    expected = {"bool": "a boolean (true/false, 1/0)", "int64": "an integer"}.get(kind, "a number")
    return BadValue(column, bad_row, value, expected)


def _first_bad_value(
    path: Path, read: pacsv.ReadOptions, parse: pacsv.ParseOptions, column: str, kind: str
) -> tuple[int, str] | None:
    """Rescan one column as text to find the first value that does not convert to `kind`: (row, value)."""
    convert = pacsv.ConvertOptions(
        column_types={column: pa.string()}, include_columns=[column], strings_can_be_null=True
    )
    accepted = pa.array(sorted(set(convert.true_values) | set(convert.false_values)))
    target = {"bool": pa.bool_(), "int64": pa.int64()}.get(kind, pa.float64())
    row = 1
    with pacsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert) as reader:
        for batch in reader:
            values = pc.utf8_trim_whitespace(batch.column(0))
            if not _all_parse(values, target, accepted):
                good = first_failure(values, lambda part: _parses_or_raise(part, target, accepted))
                return row + good, str(values[good].as_py())
            row += batch.num_rows
    return None


def _parses_or_raise(values: pa.Array, target: pa.DataType, accepted: pa.Array) -> None:
    if not _all_parse(values, target, accepted):
        raise pa.ArrowInvalid("does not convert")


def _all_parse(values: pa.Array, target: pa.DataType, accepted: pa.Array) -> bool:
    """Whether every non-null value converts the way the CSV reader converts that column."""
    values = values.drop_null()
    if pa.types.is_boolean(target):
        return bool(pc.all(pc.is_in(values, value_set=accepted)).as_py() is not False)
    try:
        pc.cast(values, target)
    except pa.ArrowInvalid:
        return False
    return True


def inspect_input(
    path: Path,
    *,
    id_column: str | None,
    input_shape: Sequence[int],
    trained_names: Sequence[str] | None,
    roles: Mapping[str, str] | None = None,
) -> InputLayout:
    return input_layout(
        "csv",
        _input_schema(path),
        None,
        path.name,
        id_column=id_column,
        input_shape=input_shape,
        trained_names=trained_names,
        roles=roles,
    )


def read_rows(path: Path, layout: InputLayout, *, chunk_rows: int, skip_chunks: int) -> Iterator[InputChunk]:
    tables = _skip(_input_tables(path, layout, chunk_rows), skip_chunks)
    return input_chunks(tables, layout, skip_chunks * chunk_rows + 1, path.name)


def _input_options(path: Path) -> tuple[pacsv.ReadOptions, pacsv.ParseOptions]:
    return pacsv.ReadOptions(block_size=_INPUT_BLOCK), pacsv.ParseOptions(delimiter=delimiter_of(path))


def _input_schema(path: Path) -> pa.Schema:
    """Column types as Arrow infers them from the first block; refuses a file without a data row."""
    read, parse = _input_options(path)
    try:
        with pacsv.open_csv(path, read_options=read, parse_options=parse) as reader:
            schema = reader.schema
            first = next(iter(reader), None)
    except pa.ArrowInvalid as exc:
        raise Invalid(
            f"cannot parse {path.name} ({exc}); its first line must name the columns and every row must "
            "hold one value per column"
        ) from exc
    if first is None or first.num_rows == 0:
        raise Invalid(f"{path.name} holds no rows to predict")
    return schema


def _skip(tables: Iterable[pa.Table], count: int) -> Iterator[pa.Table]:
    for index, table in enumerate(tables):
        if index >= count:
            yield table


def _input_tables(path: Path, layout: InputLayout, chunk_rows: int) -> Iterator[pa.Table]:
    read, parse = _input_options(path)
    # Raw columns of a model with preprocessing are read as text and converted by role (data/convert.py).
    kind = pa.string() if layout.roles else pa.float64()
    types: dict[str, pa.DataType] = dict.fromkeys(layout.features, kind)
    if layout.id_column is not None:
        types[layout.id_column] = pa.int64() if layout.id_type == "int64" else pa.string()
        if layout.id_type == "float64":
            types[layout.id_column] = pa.float64()
    convert = pacsv.ConvertOptions(column_types=types, include_columns=list(types))
    with pacsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert) as reader:
        yield from rechunk(reader, chunk_rows)


def count_rows(path: Path) -> int:
    """Data lines of a CSV file (its header excluded), counted in blocks: the total a progress bar shows
    before the file is parsed. Quoted line breaks make it an estimate; the job's final count is exact."""
    lines, last = 0, b"\n"
    with path.open("rb") as handle:
        while block := handle.read(_COUNT_BLOCK):
            lines += block.count(b"\n")
            last = block[-1:]
    return max(0, lines + (last != b"\n") - 1)

"""CSV/TSV: streamed with Arrow's block reader, one record batch (about chunk_rows rows) at a time, as a
dataset source and as rows to predict.

Feature columns are declared as float64 up front, so a column of ints that turns to floats far into
the file still reads; a text value in a feature column is reported with its exact row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from modelplane.data.formats.tabular import (
    input_chunks,
    input_layout,
    rechunk,
    select_features,
    table_chunk,
    tabular_schema,
    text_message,
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
    """Read the header (and infer bool columns from the first block), then stream typed batches."""
    target, chunk_rows = options.target, options.chunk_rows
    read = pacsv.ReadOptions(block_size=_block_size(path, chunk_rows))
    parse = pacsv.ParseOptions(delimiter=delimiter_of(path))
    try:
        with pacsv.open_csv(path, read_options=read, parse_options=parse) as reader:
            inferred = reader.schema
    except pa.ArrowInvalid as exc:
        raise Invalid(
            f"cannot parse {path.name} ({exc}); fix the file: its first line names the columns "
            "and every row holds one value per column"
        ) from exc
    features = select_features(
        inferred.names, target=target, drop_columns=list(options.drop_columns), file_name=path.name
    )
    types: dict[str, pa.DataType] = {
        name: pa.bool_() if pa.types.is_boolean(inferred.field(name).type) else pa.float64()
        for name in features
    }
    if target is not None:
        types[target] = pa.string()
    convert = pacsv.ConvertOptions(column_types=types, include_columns=list(types), strings_can_be_null=True)
    schema = tabular_schema("csv", features, target)
    stream = _stream_csv(
        path, read, parse, convert, inferred.names, features, target, chunk_rows, options.drop_na
    )
    return schema, stream


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


def inspect_input(
    path: Path, *, id_column: str | None, input_shape: Sequence[int], trained_names: Sequence[str] | None
) -> InputLayout:
    return input_layout(
        "csv",
        _input_schema(path),
        None,
        path.name,
        id_column=id_column,
        input_shape=input_shape,
        trained_names=trained_names,
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
    types: dict[str, pa.DataType] = dict.fromkeys(layout.features, pa.float64())
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

"""Parquet: column types come from the file's schema, rows from iter_batches(batch_size=chunk_rows), as a
table for dataset ingest, as float32 rows (`open_source`) and as rows to predict (a resumed batch skips
whole row groups without reading them)."""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from modelplane.data.convert import is_number, is_text
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


def open_source(path: Path, options: SourceOptions) -> tuple[SourceSchema, Iterator[Chunk]]:
    """Every column but the target as a float32 feature (rows to predict): types are checked from the
    Parquet schema, then row batches of chunk_rows streamed."""
    target = options.target
    try:
        with pq.ParquetFile(path) as parquet:
            arrow_schema = parquet.schema_arrow
            features = select_features(
                arrow_schema.names,
                target=target,
                drop_columns=list(options.drop_columns),
                file_name=path.name,
            )
            for name in features:
                _check_feature_type(parquet, name, path.name)
    except (pa.ArrowInvalid, OSError) as exc:
        raise _unreadable(path, exc) from exc
    if target is not None:
        kind = arrow_schema.field(target).type
        if not (is_number(kind) or is_text(kind) or pa.types.is_boolean(kind)):
            raise Invalid(
                f"target column '{target}' in {path.name} has type {kind}; "
                "the target must hold numbers or text: convert it or pick another --target"
            )
    wanted: dict[str, pa.DataType] = dict.fromkeys(features, pa.float64())
    if target is not None:
        wanted[target] = pa.string()
    tables = read_table(path, wanted, chunk_rows=options.chunk_rows)
    return tabular_schema("parquet", features, target), feature_chunks(
        tables, features, target, drop_na=options.drop_na, parse_target=False
    )


def table_columns(path: Path) -> list[str]:
    try:
        return list(pq.read_schema(path).names)
    except (pa.ArrowInvalid, OSError) as exc:
        raise _unreadable(path, exc) from exc


def read_table(
    path: Path, columns: Mapping[str, pa.DataType], *, chunk_rows: int
) -> Generator[pa.Table, None, None]:
    """The columns as the file stores them (Parquet is typed: the types asked for are the caller's to
    convert to)."""
    row = 1
    try:
        with open_streaming(path) as parquet:
            batches = parquet.iter_batches(batch_size=chunk_rows, columns=list(columns))
            for table in rechunk(batches, chunk_rows):
                yield table
                row += table.num_rows
    except (pa.ArrowException, OSError) as exc:  # damaged pages surface only when they are read
        raise Invalid(f"cannot read {path.name} after row {row - 1} ({exc}); export the file again") from exc


def _unreadable(path: Path, exc: Exception) -> Invalid:
    return Invalid(f"cannot read {path.name} as Parquet ({exc}); check it is a valid Parquet file")


def open_streaming(path: Path) -> pq.ParquetFile:
    """A Parquet file to read batch by batch in bounded memory. pyarrow pre-buffers by default now, and
    every row group it pre-buffered stays in memory until the file is closed: reading an 8-row-group file
    held 277 MB of Arrow memory by its end, 55 MB without (at the same speed). One row group is still read
    whole, so memory follows the file's row-group size."""
    return pq.ParquetFile(path, pre_buffer=False)


def _check_feature_type(parquet: pq.ParquetFile, name: str, file_name: str) -> None:
    """Parquet declares column types, so text feature columns are refused before any row is read."""
    kind = parquet.schema_arrow.field(name).type
    if is_number(kind) or pa.types.is_boolean(kind):
        return
    if is_text(kind):
        raise Invalid(
            f"column '{name}' holds text (e.g. '{_first_value(parquet, name)}'); features must be numbers: "
            "convert the column or leave it out"
        )
    raise Invalid(
        f"column '{name}' in {file_name} has type {kind}; features must be numbers: "
        "convert it or leave it out"
    )


def _first_value(parquet: pq.ParquetFile, column: str) -> str:
    """An example value for the message, read batch by batch so a long empty stretch stays cheap."""
    for batch in parquet.iter_batches(batch_size=1024, columns=[column]):
        values = batch.column(0).drop_null()
        if len(values):
            return str(values[0].as_py())
    return ""


def inspect_input(
    path: Path,
    *,
    id_column: str | None,
    input_shape: Sequence[int],
    trained_names: Sequence[str] | None,
    roles: Mapping[str, str] | None = None,
) -> InputLayout:
    try:
        with pq.ParquetFile(path) as parquet:
            schema, rows = parquet.schema_arrow, parquet.metadata.num_rows
    except (pa.ArrowInvalid, OSError) as exc:
        raise _unreadable(path, exc) from exc
    return input_layout(
        "parquet",
        schema,
        rows,
        path.name,
        id_column=id_column,
        input_shape=input_shape,
        trained_names=trained_names,
        roles=roles,
    )


def read_rows(path: Path, layout: InputLayout, *, chunk_rows: int, skip_chunks: int) -> Iterator[InputChunk]:
    columns = layout.features + ([layout.id_column] if layout.id_column else [])
    tables = _input_tables(path, columns, chunk_rows, skip_chunks * chunk_rows)
    return input_chunks(tables, layout, skip_chunks * chunk_rows + 1, path.name)


def _input_tables(path: Path, columns: list[str], chunk_rows: int, skip_rows: int) -> Iterator[pa.Table]:
    with open_streaming(path) as parquet:
        metadata, first, start = parquet.metadata, 0, 0  # the first row group to read, and its first row
        while first < metadata.num_row_groups and start + metadata.row_group(first).num_rows <= skip_rows:
            start += metadata.row_group(first).num_rows
            first += 1
        if first == metadata.num_row_groups:
            return
        groups = list(range(first, metadata.num_row_groups))
        # Decoded in the calling thread (the reader, beside the runtime) rather than on Arrow's pool: the
        # first chunk arrives in ~20 ms instead of ~90 ms, and decoding never takes both cores from ONNX
        # Runtime at once.
        batches = parquet.iter_batches(
            batch_size=chunk_rows, row_groups=groups, columns=columns, use_threads=False
        )
        yield from rechunk(_drop_rows(batches, skip_rows - start), chunk_rows)


def _drop_rows(batches: Iterable[pa.RecordBatch], count: int) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        if count >= batch.num_rows:
            count -= batch.num_rows
            continue
        yield batch.slice(count)
        count = 0

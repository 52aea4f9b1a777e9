"""A CSV, TSV or Parquet file opened for a new dataset version: read with inferred roles, or, with
`--append`, the way the latest version was read (modelplane.data.append), after that version's own rows."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from modelplane.data.append import inherit
from modelplane.data.catalog import TABLE_DTYPE, DatasetVersionInfo
from modelplane.data.formats.registry import DataFormat
from modelplane.data.ingest import IngestOptions, Opened, parent_labels
from modelplane.data.npy import load_npy
from modelplane.data.roles import RoleOverrides, check_names
from modelplane.data.sources import SourceOptions, check_options
from modelplane.data.table_source import TableSource, open_table, open_table_as
from modelplane.data.table_spool import TableSpool, read_tables
from modelplane.store import Store
from modelplane.tables.columns import Column, columns_to_json, feature_columns


def open_tabular(
    store: Store, path: Path, fmt: DataFormat, options: IngestOptions, parent: DatasetVersionInfo | None
) -> Opened:
    """The table at `path` opened for a new version of the dataset whose latest version is `parent`."""
    check_options(
        fmt,
        SourceOptions(
            options.target,
            options.chunk_rows,
            options.drop_na,
            options.drop_columns,
            options.image_size,
            options.image_mode,
        ),
    )
    if options.append:
        assert parent is not None
        return _appended(store, path, fmt, options, parent)
    source = open_table(
        path,
        fmt,
        target=options.target,
        ignore=options.drop_columns,
        overrides=options.roles,
        drop_na=options.drop_na,
        chunk_rows=options.chunk_rows,
    )
    read_with = {
        "target": options.target,
        "ignore": list(options.drop_columns),
        "empty": source.empty,
        "roles": options.roles.to_dict(),
        "drop_na": options.drop_na,
    }
    compatible = (
        parent is not None
        and parent.columns == source.columns
        and parent.target_name == source.target_name
        and options.task in (None, parent.task)
    )
    chunks = ((chunk.table, chunk.target) for chunk in source.chunks)
    return _opened(store, source, options.task, chunks, compatible, read_with, source.notices)


def _appended(
    store: Store, path: Path, fmt: DataFormat, options: IngestOptions, parent: DatasetVersionInfo
) -> Opened:
    names = fmt.table_reader().table_columns(path)
    check_names(
        names, target=None, ignore=options.drop_columns, overrides=RoleOverrides(), file_name=path.name
    )
    inherited = inherit(
        parent,
        names,
        file_name=path.name,
        target=options.target,
        task=options.task,
        drop_na=options.drop_na,
        ignore=options.drop_columns,
        overrides=options.roles,
    )
    parent_file = store.artifacts.verified_path(parent.features_sha)
    schema = pq.read_schema(parent_file).remove_metadata()

    def hint(column: Column) -> str:
        return (
            f"{parent.ref} reads column '{column.name}' as {column.role}: fix the value, or add the file "
            "as a new dataset without --append"
        )

    source = open_table_as(
        path,
        fmt,
        columns=inherited.columns,
        schema=schema,
        target=inherited.target,
        drop_na=inherited.drop_na,
        chunk_rows=options.chunk_rows,
        hint=hint,
    )
    new = ((chunk.table, chunk.target) for chunk in source.chunks)
    chunks = itertools.chain(_parent_tables(store, parent, parent_file, schema, options.chunk_rows), new)
    return _opened(store, source, inherited.task, chunks, True, inherited.ingest_options, [inherited.notice])


def _opened(
    store: Store,
    source: TableSource,
    task: str | None,
    chunks: Iterator[tuple[pa.Table, np.ndarray | None]],
    compatible: bool,
    read_with: Mapping[str, Any],
    notices: list[str],
) -> Opened:
    features = [c.name for c in feature_columns(source.columns)]
    described = {
        "feature_names": features,
        "feature_shape": [len(features)],
        "feature_dtype": TABLE_DTYPE,
        "target_name": source.target_name,
        "columns": columns_to_json(source.columns),
    }
    return Opened(
        format=source.format,
        described=described,
        target_name=source.target_name,
        image_shape=None,
        task_hint=task,
        chunks=chunks,
        spool=TableSpool(store.artifacts.tmp_dir, source.columns, source.schema),
        compatible=compatible,
        ingest_options=dict(read_with),
        notices=notices,
    )


def _parent_tables(
    store: Store, parent: DatasetVersionInfo, path: Path, schema: pa.Schema, chunk_rows: int
) -> Iterator[tuple[pa.Table, np.ndarray | None]]:
    """The parent's rows in chunks, targets turned back into labels, for `--append`."""
    target = load_npy(store.artifacts.verified_path(parent.target_sha)) if parent.target_sha else None
    labels = parent_labels(parent, target)
    start = 0
    for table in read_tables(path, chunk_rows):
        stop = start + table.num_rows
        yield (
            pa.Table.from_arrays(table.columns, schema=schema),
            None if labels is None else labels(start, stop),
        )
        start = stop

"""A source other than a table (NPZ, IDX, an image folder, a builtin) opened for a new dataset version:
its features stored as one `.npy` artifact of fixed-shape rows; with `--append`, after the latest
version's own rows, when both hold the same features."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np

from modelplane.data.catalog import DatasetVersionInfo, load_arrays
from modelplane.data.ingest import COMPARE_ROWS, Block, IngestOptions, Opened, parent_labels
from modelplane.data.npy import RowSpool
from modelplane.data.sources import SourceSchema, open_source
from modelplane.errors import Invalid
from modelplane.store import Store


class _ArraySpool:
    """Features as one `.npy` artifact of fixed-shape rows."""

    def __init__(self, store: Store, schema: SourceSchema) -> None:
        shape = tuple(int(d) for d in schema.feature_shape)
        self._spool = RowSpool(store.artifacts.tmp_dir, np.dtype(schema.feature_dtype), shape)
        self._sha = ""

    @property
    def rows(self) -> int:
        return self._spool.rows

    def append(self, block: Block) -> None:
        self._spool.append(block)

    def publish(self, store: Store) -> str:
        self._sha = self._spool.publish(store.artifacts)
        return self._sha

    def content(self) -> str:
        return self._sha

    def starts_with(self, store: Store, parent: DatasetVersionInfo) -> bool:
        old, _ = load_arrays(store, parent)
        for start in range(0, parent.num_rows, COMPARE_ROWS):
            stop = min(start + COMPARE_ROWS, parent.num_rows)
            if not np.array_equal(self._spool.read(start, stop), old[start:stop]):
                return False
        return True

    def stats(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        self._spool.close()


def open_arrays(
    store: Store, source: str, options: IngestOptions, parent: DatasetVersionInfo | None
) -> Opened:
    """`source` opened for a new version of the dataset whose latest version is `parent`."""
    if options.roles.declared():
        raise Invalid(
            "--categorical/--numeric/--boolean/--datetime/--id apply to CSV and Parquet columns only; "
            f"remove them for {source}"
        )
    schema, chunks = open_source(
        source,
        target=options.target,
        chunk_rows=options.chunk_rows,
        drop_na=options.drop_na,
        drop_columns=options.drop_columns,
        image_size=options.image_size,
        image_mode=options.image_mode,
    )
    task_hint = options.task or schema.task_hint
    problem = _incompatibility(parent, schema, task_hint) if parent is not None else None
    if problem and options.append:
        assert parent is not None
        raise Invalid(f"cannot append {source} to {parent.ref}: {problem}; add it as a new dataset instead")
    stream: Iterator[tuple[Block, np.ndarray | None]] = ((c.features, c.target) for c in chunks)
    if options.append:
        assert parent is not None
        stream = itertools.chain(_parent_arrays(store, parent, options.chunk_rows), stream)
    described = {
        "feature_names": list(schema.feature_names),
        "feature_shape": [int(d) for d in schema.feature_shape],
        "feature_dtype": schema.feature_dtype,
        "target_name": schema.target_name,
    }
    read_with: dict[str, Any] = {"target": options.target, "drop_na": options.drop_na}
    if options.image_size or options.image_mode:
        read_with.update(image_size=options.image_size, image_mode=options.image_mode)
    return Opened(
        format=schema.format,
        described=described,
        target_name=schema.target_name,
        image_shape=list(schema.image_shape) if schema.image_shape else None,
        task_hint=task_hint,
        chunks=stream,
        spool=_ArraySpool(store, schema),
        compatible=parent is not None and problem is None,
        ingest_options=read_with,
    )


def _incompatibility(parent: DatasetVersionInfo, schema: SourceSchema, task: str | None) -> str | None:
    """Why rows of `schema` cannot extend `parent`, or None when they can."""
    checks = [
        ("feature columns", parent.feature_names, list(schema.feature_names)),
        ("feature shape", parent.feature_shape, list(schema.feature_shape)),
        ("feature type", parent.feature_dtype, schema.feature_dtype),
        ("target column", parent.target_name, schema.target_name),
    ]
    if task is not None:
        checks.append(("task", parent.task, task))
    for what, before, now in checks:
        if before != now:
            return f"{what} differ ({before} before, {now} now)"
    return None


def _parent_arrays(
    store: Store, parent: DatasetVersionInfo, rows: int
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """The parent's rows as chunks, targets turned back into labels, for `--append`."""
    features, target = load_arrays(store, parent)
    labels = parent_labels(parent, target)
    for start in range(0, parent.num_rows, rows):
        stop = min(start + rows, parent.num_rows)
        yield np.asarray(features[start:stop]), None if labels is None else labels(start, stop)

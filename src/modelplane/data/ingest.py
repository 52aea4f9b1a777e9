"""Ingest: a source becomes an immutable, content-hashed dataset version (streamed, bounded memory).

A CSV, TSV or Parquet file is read as a table with column roles (data/table_ingest.py) and stored as
Parquet; every other source (NPZ, IDX, image folders, builtins) as `.npy` arrays. Either way the target is
collected and encoded the same way, the content hash covers what the version holds, and a version whose
first rows are its parent's records which rows are new.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from sqlalchemy import select

from modelplane.data.catalog import DatasetVersionInfo, describe, load_arrays
from modelplane.data.npy import RowSpool
from modelplane.data.roles import RoleOverrides
from modelplane.data.sources import SourceSchema, detect_format, open_source
from modelplane.data.targets import TargetCollector, _label
from modelplane.errors import Invalid, NotFound
from modelplane.refs import check_name
from modelplane.security import audit
from modelplane.store import Store
from modelplane.store.orm import Artifact, Dataset, DatasetVersion

_COMPARE_ROWS = 1 << 16

Block = Any  # a chunk's features: an ndarray (arrays) or a pyarrow Table (tables)


@dataclass(frozen=True)
class IngestOptions:
    """How to read a source; mirrors the `data add` flags (`drop_columns` is --drop / --ignore)."""

    target: str | None = None
    task: str | None = None
    append: bool = False
    drop_na: bool = False
    drop_columns: tuple[str, ...] = ()
    chunk_rows: int = 65_536
    image_size: tuple[int, int] | None = None
    image_mode: str | None = None
    roles: RoleOverrides = field(default_factory=RoleOverrides)


@dataclass(frozen=True)
class IngestResult:
    version: DatasetVersionInfo
    created: bool
    notices: list[str] = field(default_factory=list)  # what was decided for the user: inferred ids, ...


class FeatureSpool(Protocol):
    """Where a version's features are written while they stream in."""

    @property
    def rows(self) -> int: ...

    def append(self, block: Block) -> None: ...

    def publish(self, store: Store) -> str:
        """Store the features as an artifact; returns its sha256."""
        ...

    def content(self) -> str:
        """What the content hash covers of the features (after `publish`)."""
        ...

    def starts_with(self, store: Store, parent: DatasetVersionInfo) -> bool:
        """Whether the features begin with exactly the parent's rows, and have more (after `publish`)."""
        ...

    def stats(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


@dataclass
class Opened:
    """A source opened for a new version: what it holds, its rows (the parent's first when appending) and
    where its features go."""

    format: str
    described: dict[str, Any]  # the schema part of the content hash (and of the version row)
    target_name: str | None
    image_shape: list[int] | None
    task_hint: str | None
    chunks: Iterator[tuple[Block, np.ndarray | None]]
    spool: FeatureSpool
    compatible: bool  # a parent that reads like this: its class order is kept, its rows may be a prefix
    ingest_options: dict[str, Any]
    notices: list[str] = field(default_factory=list)


def _latest(store: Store, name: str) -> DatasetVersionInfo | None:
    with store.db.session() as session:
        dataset = session.scalar(select(Dataset).where(Dataset.name == name))
        if dataset is None or not dataset.versions:
            return None
        return describe(session, dataset.versions[-1])


def add_dataset(
    store: Store,
    name: str,
    source: str,
    options: IngestOptions | None = None,
    *,
    by: str = "",
    on_rows: Callable[[int], None] | None = None,
) -> IngestResult:
    """Read `source` into a new version of dataset `name` (or return the identical one that exists)."""
    options = options or IngestOptions()
    check_name(name, "dataset")
    if options.task not in (None, "classification", "regression"):
        raise Invalid(f"unknown task {options.task!r}; use classification or regression")
    if options.chunk_rows < 1:
        raise Invalid("chunk_rows must be at least 1")
    fmt = detect_format(source)
    parent = _latest(store, name)
    if options.append and parent is None:
        raise NotFound(f"dataset '{name}' has no version to append to; add it first without --append")
    if fmt.named_columns:
        from modelplane.data.table_ingest import open_tabular

        opened = open_tabular(store, Path(source), fmt, options, parent)
    else:
        opened = _open_arrays(store, source, options, parent)
    try:
        return _ingest(store, name, source, opened, options, parent, by=by, on_rows=on_rows)
    finally:
        opened.spool.close()


def _ingest(
    store: Store,
    name: str,
    source: str,
    opened: Opened,
    options: IngestOptions,
    parent: DatasetVersionInfo | None,
    *,
    by: str,
    on_rows: Callable[[int], None] | None,
) -> IngestResult:
    """Stream the rows into the spool and the target collector, then record the version."""
    features = opened.spool
    collector = TargetCollector(store.artifacts.tmp_dir, opened.target_name) if opened.target_name else None
    try:
        labels_only = options.append and parent is not None and parent.task == "classification"
        for block, target in opened.chunks:
            if labels_only and target is not None:
                target = _as_labels(target)
            if collector is not None and target is not None:
                collector.add(target, features.rows)
            features.append(block)
            if on_rows:
                on_rows(features.rows)
        if features.rows == 0:
            raise Invalid(f"{source} holds no rows; nothing to add")
        task = collector.infer_task(opened.task_hint) if collector else None
        encoded = None
        if collector is not None:
            known = parent.classes if parent and opened.compatible and parent.task == task else None
            encoded = collector.encode(store.artifacts, task=task or "", known_classes=known)
        features_sha = features.publish(store)
        target_sha = encoded.sha256 if encoded else None
        described = {**opened.described, "task": task, "classes": encoded.classes if encoded else None}
        content_hash = _content_hash(described, features.content(), target_sha)
        new_rows_start = 0
        if parent is not None and (
            options.append or (opened.compatible and _is_prefix(store, parent, features, target_sha))
        ):
            new_rows_start = parent.num_rows
        stats: dict[str, Any] = dict(encoded.stats) if encoded else {}
        stats.update(features.stats())
        info, created = _record(
            store,
            name,
            source,
            opened,
            described,
            content_hash,
            features_sha,
            target_sha,
            rows=features.rows,
            new_rows_start=new_rows_start,
            stats=stats,
            ingest_options={**opened.ingest_options, "task": task},
            by=by,
        )
        return IngestResult(info, created=created, notices=opened.notices)
    finally:
        if collector is not None:
            collector.close()


def _as_labels(target: np.ndarray) -> np.ndarray:
    if target.dtype.kind in "US":
        return target
    return np.array([_label(v) for v in target])


def _is_prefix(
    store: Store, parent: DatasetVersionInfo, features: FeatureSpool, target_sha: str | None
) -> bool:
    """True when the new rows start with exactly the parent's rows (so the rest are new)."""
    if features.rows <= parent.num_rows or not features.starts_with(store, parent):
        return False
    if target_sha is None or parent.target_sha is None:
        return True
    new_target = np.load(store.artifacts.path_for(target_sha), mmap_mode="r")
    old_target = np.load(store.artifacts.verified_path(parent.target_sha), mmap_mode="r")
    for start in range(0, parent.num_rows, _COMPARE_ROWS):
        stop = min(start + _COMPARE_ROWS, parent.num_rows)
        if not np.array_equal(new_target[start:stop], old_target[start:stop]):
            return False
    return True


def _content_hash(schema: dict[str, object], features: str, target_sha: str | None) -> str:
    canonical = json.dumps({"schema": schema, "features": features, "target": target_sha}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- arrays: NPZ, IDX, image folders, builtins ------------------------------------------------------


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
        for start in range(0, parent.num_rows, _COMPARE_ROWS):
            stop = min(start + _COMPARE_ROWS, parent.num_rows)
            if not np.array_equal(self._spool.read(start, stop), old[start:stop]):
                return False
        return True

    def stats(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        self._spool.close()


def _open_arrays(
    store: Store, source: str, options: IngestOptions, parent: DatasetVersionInfo | None
) -> Opened:
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


def parent_labels(
    parent: DatasetVersionInfo, target: np.ndarray | None
) -> Callable[[int, int], np.ndarray] | None:
    """Rows [start, stop) of a parent's encoded target as the labels ingest reads (class names or numbers)."""
    if target is None:
        return None
    classes = np.array(parent.classes) if parent.classes else None

    def labels(start: int, stop: int) -> np.ndarray:
        block = np.asarray(target[start:stop])
        return classes[block] if classes is not None else block.astype(np.float64)

    return labels


# --- the version row --------------------------------------------------------------------------------


def _record(
    store: Store,
    name: str,
    source: str,
    opened: Opened,
    described: dict[str, Any],
    content_hash: str,
    features_sha: str,
    target_sha: str | None,
    *,
    rows: int,
    new_rows_start: int,
    stats: dict[str, Any],
    ingest_options: dict[str, Any],
    by: str,
) -> tuple[DatasetVersionInfo, bool]:
    """One transaction: artifact rows + the version row (or the existing identical version)."""
    with store.db.session() as session:
        dataset = session.scalar(select(Dataset).where(Dataset.name == name))
        if dataset is None:
            dataset = Dataset(name=name)
            session.add(dataset)
            session.flush()
        existing = session.scalar(
            select(DatasetVersion).where(
                DatasetVersion.dataset_id == dataset.id, DatasetVersion.content_hash == content_hash
            )
        )
        if existing is not None:
            return describe(session, existing), False
        for sha in filter(None, (features_sha, target_sha)):
            if session.get(Artifact, sha) is None:
                session.add(Artifact(sha256=sha, size=store.artifacts.path_for(sha).stat().st_size))
        latest = dataset.versions[-1] if dataset.versions else None
        row = DatasetVersion(
            dataset=dataset,
            version=(latest.version + 1) if latest else 1,
            content_hash=content_hash,
            parent_id=latest.id if latest else None,
            num_rows=rows,
            new_rows_start=new_rows_start,
            source=source,
            format=opened.format,
            task=described["task"],
            target_name=opened.target_name,
            feature_names=described["feature_names"],
            feature_shape=described["feature_shape"],
            feature_dtype=described["feature_dtype"],
            image_shape=opened.image_shape,
            classes=described["classes"],
            stats=stats,
            features_sha=features_sha,
            target_sha=target_sha,
            created_by=by,
            columns=described.get("columns"),
            ingest_options=ingest_options,
        )
        session.add(row)
        session.flush()
        audit.append(
            session, by, "dataset.version.added", f"{name}@{row.version}", {"rows": rows, "source": source}
        )
        return describe(session, row), True

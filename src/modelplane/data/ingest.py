"""Ingest: a source becomes an immutable, content-hashed dataset version (streamed, bounded memory).

A CSV, TSV or Parquet file is read as a table with column roles (data/table_ingest.py) and stored as
Parquet; every other source (NPZ, IDX, image folders, builtins) as `.npy` arrays (data/array_ingest.py).
Either way the target is collected and encoded the same way, the content hash covers what the version
holds, and a version whose first rows are its parent's records which rows are new.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from sqlalchemy import select

from modelplane.data.catalog import DatasetVersionInfo, dataset_key, describe
from modelplane.data.roles import RoleOverrides
from modelplane.data.sources import detect_format
from modelplane.data.targets import TargetCollector, _label
from modelplane.errors import Invalid, NotFound
from modelplane.refs import check_name
from modelplane.security import audit
from modelplane.store import Store
from modelplane.store.db import serialise
from modelplane.store.orm import Artifact, Dataset, DatasetVersion

COMPARE_ROWS = 1 << 16

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
        from modelplane.data.array_ingest import open_arrays

        opened = open_arrays(store, source, options, parent)
    try:
        return _ingest(store, name, source, opened, options, parent, by=by, on_rows=on_rows)
    finally:
        opened.spool.close()


def add_opened(
    store: Store,
    name: str,
    source: str,
    opened: Opened,
    options: IngestOptions,
    parent: DatasetVersionInfo | None,
    *,
    by: str = "",
    on_rows: Callable[[int], None] | None = None,
) -> IngestResult:
    """Record a version of `name` from a source opened elsewhere (data/from_feedback.py); `parent` is the
    version whose class order is kept and whose rows the chunks may begin with."""
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
    for start in range(0, parent.num_rows, COMPARE_ROWS):
        stop = min(start + COMPARE_ROWS, parent.num_rows)
        if not np.array_equal(new_target[start:stop], old_target[start:stop]):
            return False
    return True


def _content_hash(schema: dict[str, object], features: str, target_sha: str | None) -> str:
    canonical = json.dumps({"schema": schema, "features": features, "target": target_sha}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- shared by tables and arrays --------------------------------------------------------------------


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
        serialise(session, dataset_key(name))
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

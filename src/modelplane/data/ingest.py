"""Ingest: a source becomes an immutable, content-hashed dataset version (streamed, bounded memory)."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from modelplane.data.catalog import DatasetVersionInfo, describe, load_arrays
from modelplane.data.npy import RowSpool
from modelplane.data.sources import Chunk, SourceSchema, open_source
from modelplane.data.targets import TargetCollector, _label
from modelplane.errors import Invalid, NotFound
from modelplane.refs import check_name
from modelplane.security import audit
from modelplane.store import Store
from modelplane.store.orm import Artifact, Dataset, DatasetVersion

_COMPARE_ROWS = 1 << 16


@dataclass(frozen=True)
class IngestOptions:
    """How to read a source; mirrors the `data add` flags."""

    target: str | None = None
    task: str | None = None
    append: bool = False
    drop_na: bool = False
    drop_columns: tuple[str, ...] = ()
    chunk_rows: int = 65_536
    image_size: tuple[int, int] | None = None
    image_mode: str | None = None


@dataclass(frozen=True)
class IngestResult:
    version: DatasetVersionInfo
    created: bool


def _latest(store: Store, name: str) -> DatasetVersionInfo | None:
    with store.db.session() as session:
        dataset = session.scalar(select(Dataset).where(Dataset.name == name))
        if dataset is None or not dataset.versions:
            return None
        return describe(session, dataset.versions[-1])


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


def _parent_chunks(store: Store, parent: DatasetVersionInfo, rows: int) -> Iterator[Chunk]:
    """The parent's rows as source chunks, targets turned back into labels, for `--append`."""
    features, target = load_arrays(store, parent)
    classes = np.array(parent.classes) if parent.classes else None
    for start in range(0, parent.num_rows, rows):
        stop = min(start + rows, parent.num_rows)
        values = None
        if target is not None:
            block = np.asarray(target[start:stop])
            values = classes[block] if classes is not None else block.astype(np.float64)
        yield Chunk(features=np.asarray(features[start:stop]), target=values)


def _as_labels(chunk: Chunk) -> Chunk:
    if chunk.target is None or chunk.target.dtype.kind in "US":
        return chunk
    return Chunk(features=chunk.features, target=np.array([_label(v) for v in chunk.target]))


def _is_prefix(store: Store, parent: DatasetVersionInfo, features: RowSpool, target_sha: str | None) -> bool:
    """True when the new rows start with exactly the parent's rows (so the rest are new)."""
    if features.rows <= parent.num_rows:
        return False
    old_features, old_target = load_arrays(store, parent)
    new_target = None
    if target_sha is not None:
        new_target = np.load(store.artifacts.path_for(target_sha), mmap_mode="r")
    for start in range(0, parent.num_rows, _COMPARE_ROWS):
        stop = min(start + _COMPARE_ROWS, parent.num_rows)
        if not np.array_equal(features.read(start, stop), old_features[start:stop]):
            return False
        if (
            old_target is not None
            and new_target is not None
            and not np.array_equal(new_target[start:stop], old_target[start:stop])
        ):
            return False
    return True


def _content_hash(schema: dict[str, object], features_sha: str, target_sha: str | None) -> str:
    canonical = json.dumps({"schema": schema, "features": features_sha, "target": target_sha}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


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
    schema, chunks = open_source(
        source,
        target=options.target,
        chunk_rows=options.chunk_rows,
        drop_na=options.drop_na,
        drop_columns=options.drop_columns,
        image_size=options.image_size,
        image_mode=options.image_mode,
    )
    parent = _latest(store, name)
    if options.append and parent is None:
        raise NotFound(f"dataset '{name}' has no version to append to; add it first without --append")
    task_hint = options.task or schema.task_hint
    problem = _incompatibility(parent, schema, task_hint) if parent is not None else None
    if problem and options.append:
        assert parent is not None
        raise Invalid(f"cannot append {source} to {parent.ref}: {problem}; add it as a new dataset instead")
    # A compatible previous version keeps its class order, so class indices stay stable across versions.
    parent_known = parent if problem is None else None

    tmp = store.artifacts.tmp_dir
    feature_shape = tuple(int(d) for d in schema.feature_shape)
    with RowSpool(tmp, np.dtype(schema.feature_dtype), feature_shape) as features:
        collector = TargetCollector(tmp, schema.target_name) if schema.target_name else None
        try:
            stream: Iterator[Chunk] = chunks
            if options.append:
                assert parent is not None
                stream = itertools.chain(_parent_chunks(store, parent, options.chunk_rows), chunks)
            labels_only = options.append and parent is not None and parent.task == "classification"
            for chunk in stream:
                if labels_only:
                    chunk = _as_labels(chunk)
                if collector is not None and chunk.target is not None:
                    collector.add(chunk.target, features.rows)
                features.append(chunk.features)
                if on_rows:
                    on_rows(features.rows)
            if features.rows == 0:
                raise Invalid(f"{source} holds no rows; nothing to add")
            task = collector.infer_task(task_hint) if collector else None
            encoded = None
            if collector is not None:
                known = parent_known.classes if parent_known and parent_known.task == task else None
                encoded = collector.encode(store.artifacts, task=task or "", known_classes=known)
            features_sha = features.publish(store.artifacts)
            target_sha = encoded.sha256 if encoded else None
            described = {
                "feature_names": list(schema.feature_names),
                "feature_shape": list(feature_shape),
                "feature_dtype": schema.feature_dtype,
                "target_name": schema.target_name,
                "task": task,
                "classes": encoded.classes if encoded else None,
            }
            content_hash = _content_hash(described, features_sha, target_sha)
            new_rows_start = 0
            if parent is not None and (
                options.append
                or (parent_known is not None and _is_prefix(store, parent, features, target_sha))
            ):
                new_rows_start = parent.num_rows
            return _record(
                store,
                name,
                source,
                schema,
                described,
                content_hash,
                features_sha,
                target_sha,
                rows=features.rows,
                new_rows_start=new_rows_start,
                stats=dict(encoded.stats) if encoded else {},
                by=by,
            )
        finally:
            if collector is not None:
                collector.close()


def _record(
    store: Store,
    name: str,
    source: str,
    schema: SourceSchema,
    described: dict[str, object],
    content_hash: str,
    features_sha: str,
    target_sha: str | None,
    *,
    rows: int,
    new_rows_start: int,
    stats: dict[str, object],
    by: str,
) -> IngestResult:
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
            return IngestResult(describe(session, existing), created=False)
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
            format=schema.format,
            task=described["task"],
            target_name=schema.target_name,
            feature_names=described["feature_names"],
            feature_shape=described["feature_shape"],
            feature_dtype=schema.feature_dtype,
            image_shape=list(schema.image_shape) if schema.image_shape else None,
            classes=described["classes"],
            stats=stats,
            features_sha=features_sha,
            target_sha=target_sha,
            created_by=by,
        )
        session.add(row)
        session.flush()
        audit.append(
            session, by, "dataset.version.added", f"{name}@{row.version}", {"rows": rows, "source": source}
        )
        return IngestResult(describe(session, row), created=True)

"""Reading the dataset catalog: versions by reference, their tables and arrays, listings.

A tabular version (CSV, TSV, Parquet) stores its feature and id columns as one Parquet artifact in their
stored types (modelplane.data.convert); `load_table` reads it, `table_values` hands its columns to
preprocessing. Other versions (NPZ, IDX, images, builtins) store float32 (or uint8) `.npy` arrays, and
`load_arrays` reads both kinds as the (n, k) feature matrix models without preprocessing take.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelplane.data.npy import load_npy
from modelplane.errors import Invalid, NotFound
from modelplane.refs import Ref
from modelplane.store import Store
from modelplane.store.orm import Dataset, DatasetVersion
from modelplane.tables.columns import Column, columns_from_json, feature_columns

if TYPE_CHECKING:
    import pyarrow as pa

TABLE_DTYPE = "table"  # the feature_dtype of a tabular version


@dataclass(frozen=True)
class DatasetVersionInfo:
    """A dataset version as users see it (detached from any database session)."""

    dataset: str
    version: int
    content_hash: str
    parent_version: int | None
    num_rows: int
    new_rows_start: int
    source: str
    format: str
    task: str | None
    target_name: str | None
    feature_names: list[str]
    feature_shape: list[int]
    feature_dtype: str
    image_shape: list[int] | None
    classes: list[str] | None
    stats: dict[str, Any]
    features_sha: str
    target_sha: str | None
    created_at: datetime
    created_by: str
    columns: list[Column] | None = None  # feature and id columns of a table, in file order; else None
    ingest_options: dict[str, Any] = field(default_factory=dict)  # how the version was read

    @property
    def ref(self) -> str:
        return f"{self.dataset}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return data


def dataset_key(name: str) -> str:
    """What changes to one dataset's versions serialise on (`store.db.serialise`): adding a version reads
    the newest number and the dataset row that deleting removes, so neither two appends nor an append and
    a delete may interleave."""
    return f"dataset:{name}"


def version_info(row: DatasetVersion, dataset_name: str, parent_version: int | None) -> DatasetVersionInfo:
    return DatasetVersionInfo(
        dataset=dataset_name,
        version=row.version,
        content_hash=row.content_hash,
        parent_version=parent_version,
        num_rows=row.num_rows,
        new_rows_start=row.new_rows_start,
        source=row.source,
        format=row.format,
        task=row.task,
        target_name=row.target_name,
        feature_names=list(row.feature_names),
        feature_shape=list(row.feature_shape),
        feature_dtype=row.feature_dtype,
        image_shape=list(row.image_shape) if row.image_shape else None,
        classes=list(row.classes) if row.classes else None,
        stats=dict(row.stats),
        features_sha=row.features_sha,
        target_sha=row.target_sha,
        created_at=row.created_at,
        created_by=row.created_by,
        columns=columns_from_json(row.columns),
        ingest_options=dict(row.ingest_options or {}),
    )


def describe(session: Session, row: DatasetVersion) -> DatasetVersionInfo:
    """The view of `row`, with its parent's version number looked up."""
    parent = session.get(DatasetVersion, row.parent_id) if row.parent_id else None
    return version_info(row, row.dataset.name, parent.version if parent else None)


def find_version_row(session: Session, ref: Ref) -> DatasetVersion:
    dataset = session.scalar(select(Dataset).where(Dataset.name == ref.name))
    if dataset is None:
        raise NotFound(
            f"dataset '{ref.name}' does not exist; add it with `modelplane data add {ref.name} --from ...`"
        )
    if not dataset.versions:
        raise NotFound(f"dataset '{ref.name}' has no versions yet")
    if ref.selector is None:
        return dataset.versions[-1]
    if ref.version is None:
        raise NotFound(f"dataset reference '{ref}' is not NAME or NAME@VERSION (a version number)")
    for row in dataset.versions:
        if row.version == ref.version:
            return row
    raise NotFound(
        f"dataset '{ref.name}' has no version {ref.version}; its versions are "
        f"{', '.join(str(v.version) for v in dataset.versions)}"
    )


def get_version(store: Store, ref: str) -> DatasetVersionInfo:
    with store.db.session() as session:
        return describe(session, find_version_row(session, Ref.parse(ref, "dataset")))


def list_versions(store: Store, name: str) -> list[DatasetVersionInfo]:
    with store.db.session() as session:
        row = find_version_row(session, Ref.parse(name, "dataset"))
        return [describe(session, v) for v in row.dataset.versions]


@dataclass(frozen=True)
class DatasetSummary:
    name: str
    versions: int
    latest: DatasetVersionInfo | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "versions": self.versions,
            "latest": self.latest.to_dict() if self.latest else None,
        }


def list_datasets(store: Store) -> list[DatasetSummary]:
    with store.db.session() as session:
        counts = dict(
            session.execute(
                select(DatasetVersion.dataset_id, func.count()).group_by(DatasetVersion.dataset_id)
            ).all()
        )
        out = []
        for dataset in session.scalars(select(Dataset).order_by(Dataset.name)):
            latest = describe(session, dataset.versions[-1]) if dataset.versions else None
            out.append(DatasetSummary(dataset.name, int(counts.get(dataset.id, 0)), latest))
        return out


def load_arrays(store: Store, info: DatasetVersionInfo) -> tuple[np.ndarray, np.ndarray | None]:
    """Features and encoded target after their hashes are verified: `.npy` arrays memory-mapped; a table
    as float32 (n, k) in feature order with NaN for missing values, which only numeric and boolean
    features make (models read categorical and datetime columns through their preprocessing)."""
    target = load_npy(store.artifacts.verified_path(info.target_sha)) if info.target_sha else None
    if info.columns is None:
        return load_npy(store.artifacts.verified_path(info.features_sha)), target
    features = feature_columns(info.columns)
    encoded = [c for c in features if c.role not in ("numeric", "boolean")]
    if encoded:
        kinds = "/".join(sorted({c.role for c in encoded}))
        raise Invalid(
            f"dataset {info.ref} has {kinds} columns ({', '.join(c.name for c in encoded[:5])}); models read "
            "it through their preprocessing"
        )
    table, _ = load_table(store, info)
    values = table_values(table, features)
    matrix = np.empty((table.num_rows, len(features)), dtype=np.float32)
    for j, column in enumerate(features):
        matrix[:, j] = values[column.name]
    return matrix, target


def load_table(store: Store, info: DatasetVersionInfo) -> tuple[pa.Table, np.ndarray | None]:
    """A tabular version's feature and id columns (stored types, file order) and its encoded target,
    after their hashes are verified."""
    import pyarrow.parquet as pq

    if info.columns is None:
        raise Invalid(f"dataset {info.ref} holds {info.format} arrays, not a table; read it with load_arrays")
    table = pq.read_table(store.artifacts.verified_path(info.features_sha))
    target = load_npy(store.artifacts.verified_path(info.target_sha)) if info.target_sha else None
    return table, target


def table_values(table: pa.Table, columns: Sequence[Column]) -> dict[str, np.ndarray]:
    """`columns` of a stored table as `ColumnValues`: numeric and boolean float64 with NaN for missing
    (booleans 0.0 / 1.0), categorical object arrays of str with None, datetime float64 epoch seconds with
    NaN, ids as stored (int64, or object arrays of str)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values: dict[str, np.ndarray] = {}
    for column in columns:
        array = table.column(column.name)
        if column.role in ("categorical", "id"):
            values[column.name] = array.to_numpy(zero_copy_only=False)  # text: object array, None missing
        else:
            floats = pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False)
            values[column.name] = np.require(floats, dtype=np.float64, requirements=["W"])
    return values

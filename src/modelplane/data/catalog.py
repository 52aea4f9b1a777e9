"""Reading the dataset catalog: versions by reference, their arrays, listings."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelplane.data.npy import load_npy
from modelplane.errors import NotFound
from modelplane.refs import Ref
from modelplane.store import Store
from modelplane.store.orm import Dataset, DatasetVersion


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

    @property
    def ref(self) -> str:
        return f"{self.dataset}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return data


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
    """Features and encoded target, memory-mapped after their hashes are verified."""
    features = load_npy(store.artifacts.verified_path(info.features_sha))
    target = load_npy(store.artifacts.verified_path(info.target_sha)) if info.target_sha else None
    return features, target

"""Runs as users see them: inputs, status, per-epoch metrics and the version they registered."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelplane.store.orm import DatasetVersion, ModelVersion, Run


@dataclass(frozen=True)
class RunInfo:
    id: str
    status: str
    model_name: str
    kind: str
    dataset: str
    spec: dict[str, Any]
    config: dict[str, Any]
    split: dict[str, Any]
    metrics: dict[str, Any]
    history: list[dict[str, float]]
    model_version: str | None
    code_version: str | None
    error: str | None
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    created_by: str

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return data


def run_view(session: Session, row: Run) -> RunInfo:
    dataset = session.get(DatasetVersion, row.dataset_version_id)
    epochs: dict[int, dict[str, float]] = {}
    for metric in row.epochs:
        epochs.setdefault(metric.epoch, {"epoch": float(metric.epoch)})[metric.name] = metric.value
    version = session.scalar(select(ModelVersion).where(ModelVersion.run_id == row.id))
    return RunInfo(
        id=row.id,
        status=row.status,
        model_name=row.model_name,
        kind=row.kind,
        dataset=f"{dataset.dataset.name}@{dataset.version}" if dataset else "?",
        spec=dict(row.spec),
        config=dict(row.config),
        split=dict(row.split),
        metrics=dict(row.metrics),
        history=[epochs[e] for e in sorted(epochs)],
        model_version=f"{version.model.name}@{version.version}" if version else None,
        code_version=row.code_version,
        error=row.error,
        started_at=row.started_at,
        finished_at=row.finished_at,
        duration_s=row.duration_s,
        created_by=row.created_by,
    )

"""Policies and firings as users see them, detached from database sessions (the client rebuilds these
from JSON)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from modelplane.jobs.views import aware
from modelplane.retrain.settings import settings_of
from modelplane.store.orm import DatasetVersion, ModelVersion, RetrainFiring, RetrainPolicy

# Where a firing stands. The first two are the job's; the rest are outcomes, of which `canary` is the
# only one that still moves (to promoted, aborted or superseded).
QUEUED, RUNNING = "queued", "running"
NO_OP, GATE_FAILED, FAILED, CANCELLED = "no-op", "gate-failed", "failed", "cancelled"
STAGED, CANARY, PROMOTING = "staged", "canary", "promoting"
PROMOTED, ABORTED, SUPERSEDED = "promoted", "aborted", "superseded"
ACTIVE = (QUEUED, RUNNING)


@dataclass(frozen=True)
class FiringInfo:
    id: int
    model: str
    trigger: str
    reason: str
    settings: dict[str, Any]  # the policy's settings when it fired (what the job ran with)
    dataset: str | None
    job_id: str
    state: str
    detail: str | None
    result: dict[str, Any]
    candidate: str | None
    deployments: list[str]
    canary_until: datetime | None
    created_at: datetime
    updated_at: datetime
    created_by: str

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        for name in ("canary_until", "created_at", "updated_at"):
            value = getattr(self, name)
            data[name] = value.isoformat() if value else None
        return data


@dataclass(frozen=True)
class RetrainPolicyInfo:
    model: str
    dataset: str
    on: str  # new-data | manual | schedule:CRON
    gate: str
    canary: str  # PERCENT:DURATION or none
    replay: float
    epochs: int
    lr: float | None
    enabled: bool
    method: str  # how a retrain trains this model, in words (warm start, or from scratch for sklearn)
    last_seen_dataset: str | None
    next_fire_at: datetime | None
    created_at: datetime
    updated_at: datetime
    updated_by: str
    history: list[FiringInfo] = field(default_factory=list)
    when: list[str] = field(default_factory=list)  # the alert rules of a drift / accuracy-drop trigger

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "history"}
        for name in ("next_fire_at", "created_at", "updated_at"):
            value = getattr(self, name)
            data[name] = value.isoformat() if value else None
        data["history"] = [f.to_dict() for f in self.history]
        return data


def _dataset_ref(session: Session, version_id: int | None) -> str | None:
    row = session.get(DatasetVersion, version_id) if version_id else None
    return f"{row.dataset.name}@{row.version}" if row else None


def firing_view(session: Session, row: RetrainFiring) -> FiringInfo:
    candidate = session.get(ModelVersion, row.candidate_version_id) if row.candidate_version_id else None
    return FiringInfo(
        id=row.id,
        model=row.model,
        trigger=row.trigger,
        reason=row.reason,
        settings=dict(row.settings),
        dataset=_dataset_ref(session, row.dataset_version_id),
        job_id=row.job_id,
        state=row.state,
        detail=row.detail,
        result=dict(row.result),
        candidate=f"{candidate.model.name}@{candidate.version}" if candidate else None,
        deployments=list(row.deployments),
        canary_until=aware(row.canary_until) if row.canary_until else None,
        created_at=aware(row.created_at),
        updated_at=aware(row.updated_at),
        created_by=row.created_by,
    )


def policy_view(
    session: Session, row: RetrainPolicy, *, method: str, history: list[FiringInfo]
) -> RetrainPolicyInfo:
    settings = settings_of(row)
    return RetrainPolicyInfo(
        model=row.model,
        dataset=row.dataset,
        on=settings.on,
        gate=row.gate,
        canary=settings.canary,
        replay=row.replay,
        epochs=row.epochs,
        lr=row.lr,
        enabled=row.enabled,
        method=method,
        last_seen_dataset=_dataset_ref(session, row.last_seen_dataset_version_id),
        next_fire_at=aware(row.next_fire_at) if row.next_fire_at else None,
        created_at=aware(row.created_at),
        updated_at=aware(row.updated_at),
        updated_by=row.updated_by,
        history=history,
        when=list(settings.when),
    )

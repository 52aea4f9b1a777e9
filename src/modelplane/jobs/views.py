"""Jobs as users see them: state, progress (done/total, rate, ETA), timestamps, result and error."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the views themselves stay light: a client builds them from JSON without the ORM
    from modelplane.store.orm import Job, JobLogLine

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
FINISHED = frozenset((SUCCEEDED, FAILED, CANCELLED))


def aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back without their zone; every one we store is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class JobProgress:
    """`done` of `total` units (epochs, rows); `rate` is units per second over the current attempt."""

    done: int
    total: int | None
    unit: str
    rate: float | None

    @property
    def fraction(self) -> float | None:
        return min(1.0, self.done / self.total) if self.total else None

    @property
    def eta_s(self) -> float | None:
        if self.total is None or not self.rate:
            return None
        return max(0.0, self.total - self.done) / self.rate

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "fraction": self.fraction, "eta_s": self.eta_s}


@dataclass(frozen=True)
class JobInfo:
    id: str
    kind: str
    state: str
    params: dict[str, Any]
    progress: JobProgress
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    worker: str | None
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    updated_at: datetime
    finished_at: datetime | None
    created_by: str
    # Where the job runs outside this store's workers: the Ray address, driver, job and trial ids.
    cluster: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["progress"] = self.progress.to_dict()
        for name in ("created_at", "started_at", "updated_at", "finished_at"):
            value = getattr(self, name)
            data[name] = value.isoformat() if value else None
        return data


@dataclass(frozen=True)
class LogLine:
    seq: int
    at: datetime
    line: str

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": self.at.isoformat(), "line": self.line}


def job_view(row: Job) -> JobInfo:
    return JobInfo(
        id=row.id,
        kind=row.kind,
        state=row.state,
        params=dict(row.params),
        progress=JobProgress(
            done=row.progress_done, total=row.progress_total, unit=row.progress_unit, rate=row.progress_rate
        ),
        result=dict(row.result) if row.result is not None else None,
        error=row.error,
        attempts=row.attempts,
        worker=row.worker,
        cancel_requested=row.cancel_requested_at is not None,
        created_at=aware(row.created_at),
        started_at=aware(row.started_at) if row.started_at else None,
        updated_at=aware(row.updated_at),
        finished_at=aware(row.finished_at) if row.finished_at else None,
        created_by=row.created_by,
        cluster=dict((row.checkpoint or {}).get("ray") or {}),
    )


def log_view(row: JobLogLine) -> LogLine:
    return LogLine(seq=row.seq, at=aware(row.at), line=row.line)

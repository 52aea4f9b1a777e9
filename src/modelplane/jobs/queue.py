"""Submitting, finding, listing and cancelling jobs, and reading their logs: what clients of the queue do."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from modelplane.errors import Conflict, Invalid
from modelplane.jobs.kinds import KINDS, get_kind
from modelplane.jobs.rows import add_log_lines, job_row, transition
from modelplane.jobs.views import (
    CANCELLED,
    FINISHED,
    QUEUED,
    RUNNING,
    STATES,
    JobInfo,
    LogLine,
    job_view,
    log_view,
)
from modelplane.security import audit
from modelplane.store import Store
from modelplane.store.orm import Job, JobLogLine, utcnow


def new_job_id() -> str:
    return uuid.uuid4().hex[:12]


def enqueue(
    store: Store,
    kind: str,
    params: dict[str, Any],
    *,
    by: str,
    total: int | None = None,
    unit: str = "",
    note: str | None = None,
    job_id: str | None = None,
) -> JobInfo:
    """Record a queued job; callers validate `params` first, so a job that is queued can run."""
    if kind not in KINDS:
        raise Invalid(f"unknown job kind {kind!r}; the kinds are {', '.join(sorted(KINDS))}")
    job_id = job_id or new_job_id()
    lines = [f"queued by {by or 'unknown'}" + (f": {note}" if note else "")]
    with store.db.session() as session:
        row = Job(
            id=job_id,
            kind=kind,
            state=QUEUED,
            params=params,
            checkpoint={},
            progress_done=0,
            progress_total=total,
            progress_unit=unit,
            attempts=0,
            lost=0,
            log_lines=0,
            created_by=by,
        )
        session.add(row)
        session.flush()
        add_log_lines(session, job_id, lines)
        audit.append(session, by, "job.submitted", job_id, {"kind": kind})
        session.flush()
        session.refresh(row)
        return job_view(row)


def get_job(store: Store, job_id: str) -> JobInfo:
    with store.db.session() as session:
        return job_view(job_row(session, job_id))


def list_jobs(
    store: Store, *, limit: int = 50, offset: int = 0, state: str | None = None, kind: str | None = None
) -> list[JobInfo]:
    """Newest first."""
    if state is not None and state not in STATES:
        raise Invalid(f"unknown job state {state!r}; use one of {', '.join(STATES)}")
    query = select(Job).order_by(Job.created_at.desc(), Job.id).offset(offset).limit(limit)
    if state is not None:
        query = query.where(Job.state == state)
    if kind is not None:
        query = query.where(Job.kind == kind)
    with store.db.session() as session:
        return [job_view(row) for row in session.scalars(query)]


def count_jobs(store: Store, *, state: str | None = None, kind: str | None = None) -> int:
    query = select(func.count()).select_from(Job)
    if state is not None:
        query = query.where(Job.state == state)
    if kind is not None:
        query = query.where(Job.kind == kind)
    with store.db.session() as session:
        return int(session.scalar(query) or 0)


def read_log(
    store: Store, job_id: str, *, after: int = 0, limit: int = 1000
) -> tuple[JobInfo, list[LogLine]]:
    """The job and its log lines numbered after `after` (0: from the start), oldest first."""
    with store.db.session() as session:
        row = job_row(session, job_id)
        lines = session.scalars(
            select(JobLogLine)
            .where(JobLogLine.job_id == row.id, JobLogLine.seq > after)
            .order_by(JobLogLine.seq)
            .limit(limit)
        )
        return job_view(row), [log_view(line) for line in lines]


def tail_log(store: Store, job_id: str, *, lines: int = 200) -> tuple[JobInfo, list[LogLine]]:
    """The job and its last `lines` log lines, oldest first: where a follower starts on a long log."""
    with store.db.session() as session:
        row = job_row(session, job_id)
        newest = session.scalars(
            select(JobLogLine).where(JobLogLine.job_id == row.id).order_by(JobLogLine.seq.desc()).limit(lines)
        )
        return job_view(row), [log_view(line) for line in reversed(list(newest))]


def cancel_job(store: Store, job_id: str, *, by: str) -> JobInfo:
    """A queued job (or one whose worker is gone) ends cancelled now; a running one is asked to stop, and
    its worker stops it within a couple of seconds (between epochs or chunks, or by ending its process)."""
    now = utcnow()
    who = by or "unknown"
    with store.db.session() as session:
        job_id = job_row(session, job_id).id
        ended = transition(
            session,
            job_id,
            Job.state == QUEUED,
            state=CANCELLED,
            finished_at=now,
            error=f"cancelled by {who}",
        ) or transition(
            session,
            job_id,
            Job.state == RUNNING,
            Job.lease_until < now,
            state=CANCELLED,
            finished_at=now,
            error=f"cancelled by {who}",
            lease_token=None,
            lease_until=None,
        )
        requested = not ended and transition(
            session,
            job_id,
            Job.state == RUNNING,
            Job.cancel_requested_at.is_(None),
            cancel_requested_at=now,
            cancelled_by=who,
        )
        if ended or requested:
            add_log_lines(session, job_id, [f"cancelled by {who}" if ended else f"cancel requested by {who}"])
            audit.append(session, by, "job.cancelled", job_id)
        row = job_row(session, job_id)
        session.refresh(row)
        info = job_view(row)
    if info.state in FINISHED and not (ended or requested):
        raise Conflict(f"job {info.id} already {info.state}; there is nothing to cancel")
    if ended:
        get_kind(info.kind).cleanup(store, info)
    return info

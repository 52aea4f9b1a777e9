"""Row-level helpers every job module shares: id lookup, conditional transitions, log appends."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from modelplane.errors import NotFound
from modelplane.store.orm import Job, JobLogLine, utcnow


def job_row(session: Session, job_id: str) -> Job:
    """The job with this id, or the only one whose id starts with it (ids are long; prefixes are typed)."""
    row = session.get(Job, job_id)
    if row is None and job_id:
        matches = session.scalars(select(Job).where(Job.id.startswith(job_id)).limit(2)).all()
        row = matches[0] if len(matches) == 1 else None
    if row is None:
        raise NotFound(f"job '{job_id}' not found; list jobs with `modelplane jobs list`")
    return row


def transition(session: Session, job_id: str, *conditions: ColumnElement[bool], **values: Any) -> bool:
    """UPDATE the job only while `conditions` hold, in one statement: the database decides races, so two
    processes can never both move a job out of the same state."""
    statement = (
        update(Job)
        .where(Job.id == job_id, *conditions)
        .values(updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    return bool(session.execute(statement).rowcount == 1)  # type: ignore[attr-defined]


def add_log_lines(session: Session, job_id: str, lines: Sequence[str]) -> None:
    """Append lines, numbered after the job's last one. Bumping the counter first locks the job's row, so
    concurrent appenders get consecutive numbers and commit in that order (a follower never skips one)."""
    if not lines:
        return
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(log_lines=Job.log_lines + len(lines))
        .execution_options(synchronize_session=False)
    )
    last = session.scalar(select(Job.log_lines).where(Job.id == job_id))
    assert last is not None
    now = utcnow()
    first = last - len(lines) + 1
    session.add_all(
        JobLogLine(job_id=job_id, seq=first + i, at=now, line=line) for i, line in enumerate(lines)
    )

"""Claiming a job and holding it: conditional UPDATEs the database arbitrates, a lease renewed by
heartbeats, and writes fenced by the lease's token.

Claiming is one `UPDATE jobs SET state='running', lease_token=:new ... WHERE id=:id AND <still claimable>`;
of two workers racing for a job exactly one sees a row updated (SQLite serialises writers; PostgreSQL
re-checks the WHERE clause after the first writer commits). Every later write of the holder carries
`AND lease_token=:token AND state='running'`, so once another worker has taken the job over (after the
lease expired, or at once when the holder's process is provably gone) nothing the old holder does reaches
the row: it sees zero rows updated, raises LeaseLost and stops.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelplane.jobs.identity import WorkerIdentity
from modelplane.jobs.kinds import get_kind
from modelplane.jobs.rows import add_log_lines, transition
from modelplane.jobs.views import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, JobInfo, aware, job_view
from modelplane.security import audit
from modelplane.store import Store
from modelplane.store.orm import Job, utcnow

LEASE_S = 30.0
# A job whose worker died this many times fails rather than taking a fourth worker down with it.
MAX_LOST = 3


class LeaseLost(BaseException):
    """Another worker holds this job now: stop without writing anything more.

    A BaseException, like KeyboardInterrupt, so that no `except Exception` in a job's code records it as
    the job's failure (the job has not failed: it runs elsewhere).
    """


@dataclass(frozen=True)
class Lease:
    job_id: str
    kind: str
    token: str
    attempt: int

    def held(self) -> tuple[Any, ...]:
        """The WHERE clause of every write the holder makes."""
        return (Job.lease_token == self.token, Job.state == RUNNING)


def expired(lease_until: datetime | None, now: datetime) -> bool:
    return lease_until is None or aware(lease_until) <= now


def claim(
    store: Store,
    me: WorkerIdentity,
    *,
    kinds: Collection[str],
    lease_s: float = LEASE_S,
    only: Collection[str] | None = None,
) -> Lease | None:
    """Take the oldest job this worker may run: first one whose worker is gone, else a queued one."""
    scope: list[Any] = [Job.kind.in_(list(kinds))]
    if only is not None:
        scope.append(Job.id.in_(list(only)))
    now = utcnow()
    with store.db.session() as session:
        running = session.execute(
            select(
                Job.id,
                Job.lease_token,
                Job.lease_until,
                Job.worker,
                Job.worker_key,
                Job.lost,
                Job.cancel_requested_at,
            )
            .where(Job.state == RUNNING, *scope)
            .order_by(Job.created_at)
        ).all()
    for orphan in running:
        if expired(orphan.lease_until, now):
            lease = _take_over(store, orphan, me, lease_s, "stopped renewing its lease")
        elif me.proves_dead(orphan.worker_key):
            lease = _take_over(store, orphan, me, lease_s, "is no longer running")
        else:
            continue
        if lease is not None:
            return lease
    with store.db.session() as session:
        queued = session.scalars(
            select(Job.id).where(Job.state == QUEUED, *scope).order_by(Job.created_at, Job.id).limit(8)
        ).all()
    for job_id in queued:
        lease = _claim(store, job_id, me, lease_s, [Job.state == QUEUED], f"started on {me.name}")
        if lease is not None:
            return lease
    return None


def _take_over(store: Store, orphan: Any, me: WorkerIdentity, lease_s: float, why: str) -> Lease | None:
    """Resume a job whose worker is gone — or end it, when it was being cancelled or keeps killing workers."""
    was_held = [Job.state == RUNNING, Job.lease_token == orphan.lease_token]
    gone = f"worker {orphan.worker} {why}"
    if orphan.cancel_requested_at is not None:
        _end(store, orphan.id, was_held, CANCELLED, f"cancelled ({gone} before it stopped)")
        return None
    if orphan.lost + 1 >= MAX_LOST:
        error = (
            f"its worker died {orphan.lost + 1} times (last: {gone}); the job may be what kills it: "
            f"see `modelplane jobs logs {orphan.id}`"
        )
        _end(store, orphan.id, was_held, FAILED, error)
        return None
    line = f"{gone}; resuming on {me.name} from the last checkpoint"
    return _claim(store, orphan.id, me, lease_s, was_held, line, lost=Job.lost + 1)


def _claim(
    store: Store,
    job_id: str,
    me: WorkerIdentity,
    lease_s: float,
    conditions: list[Any],
    line: str,
    **extra: Any,
) -> Lease | None:
    token = uuid.uuid4().hex
    now = utcnow()
    with store.db.session() as session:
        taken = transition(
            session,
            job_id,
            *conditions,
            state=RUNNING,
            worker=me.name,
            worker_key=me.key,
            lease_token=token,
            lease_until=now + timedelta(seconds=lease_s),
            attempts=Job.attempts + 1,
            started_at=func.coalesce(Job.started_at, now),
            progress_rate=None,
            **extra,
        )
        if not taken:
            return None
        kind, attempt = session.execute(select(Job.kind, Job.attempts).where(Job.id == job_id)).one()
        add_log_lines(session, job_id, [f"attempt {attempt}: {line}"])
    return Lease(job_id, kind, token, attempt)


def get_job_info(store: Store, job_id: str) -> JobInfo:
    with store.db.session() as session:
        return job_view(session.get_one(Job, job_id))


def _end(store: Store, job_id: str, conditions: list[Any], state: str, error: str) -> bool:
    """End a job nobody runs any more, after its kind cleaned up after it (so a job seen ended left
    nothing behind); False if it had ended already.

    Cleaning first is safe: every worker that finds such a job ends it too, none takes it over."""
    with store.db.session() as session:
        if session.scalar(select(Job.id).where(Job.id == job_id, *conditions)) is None:
            return False
    before = get_job_info(store, job_id)
    get_kind(before.kind).cleanup(store, replace(before, state=state, error=error))
    with store.db.session() as session:
        ended = transition(
            session,
            job_id,
            *conditions,
            state=state,
            error=error,
            finished_at=utcnow(),
            lease_token=None,
            lease_until=None,
        )
        if ended:
            add_log_lines(session, job_id, [f"{state}: {error}"])
            _audit_end(session, job_id, state, error)
    return ended


def renew(store: Store, lease: Lease, *, lease_s: float = LEASE_S) -> bool:
    """The heartbeat: push the lease's end forward; False when the job is no longer ours."""
    with store.db.session() as session:
        return transition(
            session, lease.job_id, *lease.held(), lease_until=utcnow() + timedelta(seconds=lease_s)
        )


def finish(
    store: Store,
    lease: Lease,
    state: str,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    lines: tuple[str, ...] = (),
) -> bool:
    """End the held job; False (and nothing written) when it is not ours any more."""
    with store.db.session() as session:
        ended = transition(
            session,
            lease.job_id,
            *lease.held(),
            state=state,
            result=result,
            error=error,
            finished_at=utcnow(),
            lease_token=None,
            lease_until=None,
        )
        if ended:
            add_log_lines(session, lease.job_id, [*lines, state + (f": {error}" if error else "")])
            _audit_end(session, lease.job_id, state, error)
    return ended


def _audit_end(session: Session, job_id: str, state: str, error: str | None) -> None:
    """A job that succeeded or failed is in the ledger (job.succeeded, job.failed), in the transaction that
    ended it, so the events it projects (events/) are never lost; cancelling is audited when asked for."""
    if state not in (SUCCEEDED, FAILED):
        return
    kind, by = session.execute(select(Job.kind, Job.created_by).where(Job.id == job_id)).one()
    audit.append(session, by, f"job.{state}", job_id, {"kind": kind, "error": error})


def requeue(store: Store, lease: Lease, *, why: str, died: bool) -> None:
    """Give the held job back to the queue: a worker stopping (resumes later), or its process dying
    (counted: after MAX_LOST deaths the job fails instead)."""
    with store.db.session() as session:
        lost = session.scalar(select(Job.lost).where(Job.id == lease.job_id, *lease.held()))
    if lost is None:  # it ended, or another worker holds it: nothing to give back
        return
    if died and lost + 1 >= MAX_LOST:
        error = f"its process died {lost + 1} times (last: {why}); see `modelplane jobs logs {lease.job_id}`"
        _end(store, lease.job_id, list(lease.held()), FAILED, error)
        return
    with store.db.session() as session:
        released = transition(
            session,
            lease.job_id,
            *lease.held(),
            state=QUEUED,
            lease_token=None,
            lease_until=None,
            progress_rate=None,
            lost=Job.lost + (1 if died else 0),
        )
        if released:
            add_log_lines(session, lease.job_id, [f"{why}; queued again, to resume from its last checkpoint"])


def end_cancelled(store: Store, lease: Lease, why: str) -> None:
    """A worker ended the held job's process for a cancel it did not obey in time."""
    _end(store, lease.job_id, list(lease.held()), CANCELLED, why)

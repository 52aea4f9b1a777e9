"""What a job's code sees while it runs: its parameters, what earlier attempts committed, and writes that
only land while this worker still holds the job."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select

from modelplane.jobs.lease import Lease, LeaseLost
from modelplane.jobs.rows import add_log_lines, transition
from modelplane.store import Store
from modelplane.store.orm import Job


class JobCancelled(BaseException):
    """The job was cancelled: unwind to the worker, which records it and cleans up.

    A BaseException so that no `except Exception` in a job's code records a cancel as a failure.
    """


class JobContext:
    """`progress` is the one call a kind makes between units of work (epochs, chunks): it records how far
    the job got — with the checkpoint to resume from, atomically — and raises JobCancelled when the job was
    cancelled or LeaseLost when another worker took it over."""

    def __init__(
        self,
        store: Store,
        lease: Lease,
        *,
        params: dict[str, Any],
        checkpoint: dict[str, Any],
        done: int,
        threads: int,
    ) -> None:
        self.store = store
        self.lease = lease
        self.params = params
        self.checkpoint = checkpoint
        self.threads = threads
        self._first_done = done
        self._started = time.monotonic()

    @property
    def job_id(self) -> str:
        return self.lease.job_id

    def log(self, *lines: str) -> None:
        with self.store.db.session() as session:
            if not transition(session, self.job_id, *self.lease.held()):
                raise LeaseLost
            add_log_lines(session, self.job_id, lines)

    def progress(
        self,
        done: int,
        *,
        total: int | None = None,
        checkpoint: dict[str, Any] | None = None,
        line: str | None = None,
    ) -> None:
        """Record `done` units (and `checkpoint`, the state a later attempt resumes from), then stop here if
        the job was cancelled."""
        elapsed = time.monotonic() - self._started
        values: dict[str, Any] = {"progress_done": done}
        if done > self._first_done and elapsed > 0:
            values["progress_rate"] = (done - self._first_done) / elapsed
        if total is not None:
            values["progress_total"] = total
        if checkpoint is not None:
            values["checkpoint"] = checkpoint
            self.checkpoint = checkpoint
        with self.store.db.session() as session:
            if not transition(session, self.job_id, *self.lease.held(), **values):
                raise LeaseLost
            if line:
                add_log_lines(session, self.job_id, [line])
            cancelled = session.scalar(select(Job.cancel_requested_at).where(Job.id == self.job_id))
        if cancelled is not None:
            raise JobCancelled

    def remember(self, key: str, value: Any) -> None:
        """Record `value` under `key` in the job's checkpoint without moving its progress: what a later
        attempt needs to find work this one started elsewhere (e.g. the Ray driver and job it runs on)."""
        checkpoint = {**self.checkpoint, key: value}
        with self.store.db.session() as session:
            if not transition(session, self.job_id, *self.lease.held(), checkpoint=checkpoint):
                raise LeaseLost
        self.checkpoint = checkpoint

    def check(self) -> None:
        """Stop here if the job was cancelled or is no longer ours."""
        with self.store.db.session() as session:
            found = session.execute(
                select(Job.lease_token, Job.state, Job.cancel_requested_at).where(Job.id == self.job_id)
            ).one()
        if found.lease_token != self.lease.token or found.state != "running":
            raise LeaseLost
        if found.cancel_requested_at is not None:
            raise JobCancelled

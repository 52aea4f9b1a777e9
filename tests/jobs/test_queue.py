"""The job lifecycle on the store: submit, claim, progress with checkpoints, logs, finish, cancel."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import inspect, update

from modelplane.errors import Conflict, NotFound
from modelplane.jobs.batch.kind import BatchRequest, submit_batch
from modelplane.jobs.context import JobCancelled, JobContext
from modelplane.jobs.lease import finish
from modelplane.jobs.queue import cancel_job, enqueue, get_job, list_jobs, read_log
from modelplane.jobs.views import CANCELLED, QUEUED, RUNNING, SUCCEEDED
from modelplane.store import Store
from modelplane.store.db import Database, run_alembic
from modelplane.store.orm import Job, utcnow
from tests.jobs.conftest import claim_one, rows, write_parquet


def _context(store: Store, lease: object) -> JobContext:
    return JobContext(store, lease, params={}, checkpoint={}, done=0, threads=1)  # type: ignore[arg-type]


def test_a_job_goes_from_queued_to_succeeded_with_progress_and_a_log(store: Store) -> None:
    job = enqueue(store, "batch", {"input": "x"}, by="ann", total=10, unit="rows", note="ten rows")
    assert job.state == QUEUED and job.progress.total == 10 and job.attempts == 0 and not job.finished
    lease = claim_one(store)
    assert lease.job_id == job.id and lease.attempt == 1
    running = get_job(store, job.id[:5])  # a unique prefix finds it
    assert running.state == RUNNING and running.started_at is not None and running.worker

    ctx = _context(store, lease)
    ctx.progress(4, checkpoint={"chunks": 2}, line="chunk 1 committed")
    halfway = get_job(store, job.id)
    assert halfway.progress.done == 4 and halfway.progress.fraction == 0.4
    assert halfway.progress.rate and halfway.progress.eta_s is not None
    assert finish(store, lease, SUCCEEDED, result={"rows": 10})
    done = get_job(store, job.id)
    assert done.state == SUCCEEDED and done.result == {"rows": 10} and done.finished_at is not None
    assert not finish(store, lease, SUCCEEDED)  # ended jobs accept no more writes

    info, lines = read_log(store, job.id)
    assert [line.seq for line in lines] == list(range(1, len(lines) + 1))
    assert lines[0].line == "queued by ann: ten rows" and "attempt 1: started on" in lines[1].line
    assert [line.line for line in lines[2:]] == ["chunk 1 committed", "succeeded"]
    assert [line.seq for line in read_log(store, job.id, after=2)[1]] == [3, 4]
    assert info.to_dict()["progress"]["fraction"] == 1.0 or info.progress.done == 4


def test_listing_filters_and_unknown_ids(store: Store) -> None:
    first = enqueue(store, "batch", {"output": "/nowhere/out.parquet"}, by="a")
    second = enqueue(store, "train", {"run_id": "r"}, by="a")
    assert [j.id for j in list_jobs(store)] == [second.id, first.id]
    assert [j.id for j in list_jobs(store, kind="train")] == [second.id]
    assert list_jobs(store, state=SUCCEEDED) == []
    with pytest.raises(NotFound, match="modelplane jobs list"):
        get_job(store, "nope")


def test_cancelling_a_queued_job_ends_it_at_once(store: Store) -> None:
    job = enqueue(store, "batch", {"output": "/nowhere/out.parquet"}, by="a")
    cancelled = cancel_job(store, job.id, by="bob")
    assert cancelled.state == CANCELLED and cancelled.error == "cancelled by bob"
    with pytest.raises(Conflict, match="already cancelled"):
        cancel_job(store, job.id, by="bob")


def test_cancelling_a_running_job_stops_it_at_its_next_progress(store: Store) -> None:
    job = enqueue(store, "batch", {"output": "/nowhere/out.parquet"}, by="a")
    ctx = _context(store, claim_one(store))
    asked = cancel_job(store, job.id, by="bob")
    assert asked.state == RUNNING and asked.cancel_requested
    with pytest.raises(JobCancelled):
        ctx.progress(1)
    with pytest.raises(JobCancelled):
        ctx.check()


def test_a_running_job_whose_worker_is_gone_is_cancelled_at_once(store: Store) -> None:
    job = enqueue(store, "batch", {"output": "/nowhere/out.parquet"}, by="a")
    claim_one(store)
    with store.db.session() as session:
        session.execute(update(Job).values(lease_until=utcnow() - timedelta(seconds=1)))
    assert cancel_job(store, job.id, by="bob").state == CANCELLED


def test_cancelling_a_running_batch_cleans_its_files(store: Store, tiny: object, scratch: Path) -> None:
    from modelplane.jobs.executor import execute

    source = write_parquet(scratch / "in.parquet", rows(40), ids=np.arange(40))
    job = submit_batch(
        store,
        BatchRequest(
            deployment="tiny",
            input=str(source),
            output=str(scratch / "out.csv"),
            chunk_rows=5,
            id_column="row_id",
        ),
        by="a",
    )
    lease = claim_one(store)
    original = JobContext.progress
    calls = []

    def cancel_after_three(self: JobContext, done: int, **kwargs: object) -> None:
        calls.append(done)
        if len(calls) == 3:
            cancel_job(store, job.id, by="bob")
        original(self, done, **kwargs)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(JobContext, "progress", cancel_after_three)
        assert execute(store, lease, threads=1) == CANCELLED
    done = get_job(store, job.id)
    assert done.state == CANCELLED and done.error == "cancelled by bob"
    assert not (store.runs_dir.parent / "jobs" / job.id).exists()
    assert sorted(p.name for p in scratch.iterdir()) == ["in.parquet"]


def test_migration_0004_round_trip(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'mp.db'}")
    try:
        assert {"jobs", "job_log"} <= set(inspect(db.engine).get_table_names())  # at head, whatever it is
        run_alembic(db.engine, "downgrade", "0003")
        assert not {"jobs", "job_log"} & set(inspect(db.engine).get_table_names())
        run_alembic(db.engine, "upgrade", "head")
        assert {"jobs", "job_log"} <= set(inspect(db.engine).get_table_names())
    finally:
        db.close()

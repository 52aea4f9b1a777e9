"""Claims are atomic, a live lease is respected, a dead or expired one is taken over, and the old holder's
writes no longer land (fencing by token)."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from modelplane.jobs.context import JobContext
from modelplane.jobs.identity import WorkerIdentity
from modelplane.jobs.kinds import KINDS, job_dir
from modelplane.jobs.lease import MAX_LOST, Lease, LeaseLost, claim, finish, renew, requeue
from modelplane.jobs.queue import enqueue, get_job, read_log
from modelplane.jobs.views import CANCELLED, FAILED, RUNNING, SUCCEEDED
from modelplane.store import Store
from modelplane.store.orm import Job, utcnow
from tests.jobs.conftest import ME, claim_one

ELSEWHERE = WorkerIdentity(name="other-host:4242", key="host|other-host:4242")


def _race(store: Store, racers: int) -> list[Lease]:
    """`racers` threads claim at the same moment; every lease any of them got."""
    start = threading.Barrier(racers)
    got: list[Lease] = []

    def racer() -> None:
        start.wait()
        lease = claim(store, ME, kinds=tuple(KINDS))
        if lease is not None:
            got.append(lease)

    threads = [threading.Thread(target=racer) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return got


def test_one_job_one_claim_under_a_race(store: Store) -> None:
    job = enqueue(store, "batch", {"output": "/x/out.csv"}, by="a")
    got = _race(store, 8)
    assert [lease.job_id for lease in got] == [job.id]
    assert get_job(store, job.id).attempts == 1


def test_one_job_one_claim_under_a_race_on_postgres(pg_database: str, tmp_path: Path) -> None:
    store = Store(pg_database, tmp_path / "artifacts", tmp_path / "runs")
    try:
        jobs = [enqueue(store, "batch", {"output": "/x/out.csv"}, by="a") for _ in range(3)]
        got = _race(store, 8)
        assert sorted(lease.job_id for lease in got) == sorted(job.id for job in jobs)
        assert [get_job(store, job.id).attempts for job in jobs] == [1, 1, 1]
    finally:
        store.close()


def _expire(store: Store, job_id: str) -> None:
    with store.db.session() as session:
        session.execute(
            update(Job).where(Job.id == job_id).values(lease_until=utcnow() - timedelta(seconds=1))
        )


def test_a_live_lease_is_respected_and_an_expired_one_taken_over(store: Store) -> None:
    job = enqueue(store, "batch", {"output": "/x/out.csv"}, by="a")
    old = claim(store, ELSEWHERE, kinds=tuple(KINDS))
    assert old is not None
    assert claim(store, ME, kinds=tuple(KINDS)) is None  # held, and nothing proves its holder dead
    _expire(store, job.id)
    new = claim_one(store)
    assert new.job_id == job.id and new.attempt == 2 and new.token != old.token
    lines = [line.line for line in read_log(store, job.id)[1]]
    assert "worker other-host:4242 stopped renewing its lease; resuming on" in lines[-1]

    # The old holder is fenced off: every write it tries reaches nothing, and it is told to stop.
    stale = JobContext(store, old, params={}, checkpoint={}, done=0, threads=1)
    with pytest.raises(LeaseLost):
        stale.progress(5, checkpoint={"chunks": 9})
    with pytest.raises(LeaseLost):
        stale.log("late line")
    assert not renew(store, old)
    assert not finish(store, old, FAILED, error="boom")
    current = get_job(store, job.id)
    assert current.state == RUNNING and current.progress.done == 0 and renew(store, new)


def test_a_dead_holder_on_this_machine_is_taken_over_before_its_lease_ends(store: Store) -> None:
    job = enqueue(store, "batch", {"output": "/x/out.csv"}, by="a")
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    machine = ME.key.rsplit("|", 2)[0]
    dead = WorkerIdentity(name=f"here:{gone.stdout.strip()}", key=f"{machine}|{gone.stdout.strip()}|1")
    assert claim(store, dead, kinds=tuple(KINDS)) is not None
    assert ME.proves_dead(dead.key) and not ME.proves_dead(ME.key) and not ME.proves_dead(ELSEWHERE.key)
    lease = claim_one(store)
    assert lease.job_id == job.id and lease.attempt == 2
    assert "is no longer running" in read_log(store, job.id)[1][-1].line


def test_an_orphan_being_cancelled_ends_cancelled(store: Store) -> None:
    job = enqueue(store, "batch", {"output": "/x/out.csv"}, by="a")
    assert claim(store, ELSEWHERE, kinds=tuple(KINDS)) is not None
    with store.db.session() as session:
        session.execute(update(Job).values(cancel_requested_at=utcnow(), cancelled_by="bob"))
    _expire(store, job.id)
    assert claim(store, ME, kinds=tuple(KINDS)) is None
    assert get_job(store, job.id).state == CANCELLED


def test_a_job_that_keeps_killing_its_workers_fails(store: Store) -> None:
    job = enqueue(store, "batch", {"output": "/x/out.csv"}, by="a")
    for attempt in range(1, MAX_LOST + 1):
        assert claim(store, ELSEWHERE, kinds=tuple(KINDS)) is not None, attempt
        _expire(store, job.id)
    assert claim(store, ME, kinds=tuple(KINDS)) is None
    failed = get_job(store, job.id)
    assert failed.state == FAILED and f"died {MAX_LOST} times" in (failed.error or "")


def test_giving_back_a_job_that_ended_changes_nothing(store: Store) -> None:
    """A worker gives a job back whenever its process exits; for a job that succeeded that is a no-op, even
    one that had lost workers before (which would otherwise fail it and clean its files away)."""
    job = enqueue(store, "batch", {"output": "/x/out.csv"}, by="a")
    with store.db.session() as session:
        session.execute(update(Job).values(lost=MAX_LOST - 1))
    lease = claim_one(store)
    kept = job_dir(store, job.id) / "predictions.csv"
    kept.parent.mkdir(parents=True)
    kept.write_text("the output of a batch submitted over the API")
    assert finish(store, lease, SUCCEEDED, result={})
    requeue(store, lease, why="its process exited (code 0)", died=True)
    assert get_job(store, job.id).state == SUCCEEDED and kept.is_file()

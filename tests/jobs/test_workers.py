"""Workers as separate processes: kill -9 in the middle of a job and the next worker resumes it from its
checkpoint (training and batch), and of two workers only one does; a cancel stops a running job within a
couple of seconds, whether or not its code cooperates."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pyarrow.parquet as pq
import pytest

from modelplane.data.ingest import IngestOptions, add_dataset
from modelplane.jobs import pool as pool_module
from modelplane.jobs.batch.kind import BatchRequest, submit_batch
from modelplane.jobs.pool import PoolOptions, WorkerPool, live_workers
from modelplane.jobs.queue import cancel_job, get_job, read_log
from modelplane.jobs.spawn import job_concurrency, job_threads, start_job_process
from modelplane.jobs.train import submit_train
from modelplane.jobs.views import CANCELLED, SUCCEEDED, JobInfo
from modelplane.store import Store
from modelplane.training.run_catalog import get_run
from modelplane.training.runs import parse_run_config
from tests.jobs.conftest import rows, until, write_parquet
from tests.jobs.workers import WorkerProcess, freeze_between_writes, job_processes

ROWS, CHUNK = 20_000, 100


@pytest.fixture
def workers(isolated_home: Path) -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


def _batch(store: Store, scratch: Path) -> tuple[JobInfo, np.ndarray]:
    ids = np.arange(ROWS) * 3
    source = write_parquet(scratch / "in.parquet", rows(ROWS), ids)
    request = BatchRequest(
        deployment="tiny",
        input=str(source),
        output=str(scratch / "out.parquet"),
        id_column="row_id",
        chunk_rows=CHUNK,
    )
    return submit_batch(store, request, by="test"), ids


def _finished(store: Store, job_id: str) -> JobInfo | None:
    job = get_job(store, job_id)
    return job if job.finished else None


def _lines(store: Store, job_id: str) -> list[str]:
    return [line.line for line in read_log(store, job_id, limit=100_000)[1]]


def _freeze_then_kill(worker: WorkerProcess) -> None:
    """Stop the job's process where it is, then kill -9 the worker: the kernel ends the job's process too."""
    child = until(worker.job_process, what="the job's process")
    assert isinstance(child, psutil.Process)
    child.suspend()
    worker.kill9()
    until(lambda: not child.is_running() or child.status() == psutil.STATUS_ZOMBIE, what="the orphan to die")


def test_a_batch_resumes_after_kill_9_of_its_worker_on_exactly_one_of_two_workers(
    store: Store, tiny: object, scratch: Path, isolated_home: Path, workers: list[WorkerProcess]
) -> None:
    job, ids = _batch(store, scratch)
    workers.append(WorkerProcess(isolated_home))
    until(lambda: get_job(store, job.id).progress.done >= 20 * CHUNK, what="20 committed chunks")
    _freeze_then_kill(workers[0])
    committed = get_job(store, job.id).progress.done
    assert committed < ROWS

    # Two workers race for the orphaned job: the lease lets exactly one of them run it.
    workers.extend([WorkerProcess(isolated_home), WorkerProcess(isolated_home)])
    done = until(lambda: _finished(store, job.id), timeout_s=60, what="the job to end")
    assert isinstance(done, JobInfo)
    assert done.state == SUCCEEDED and done.attempts == 2, done.error
    lines = _lines(store, job.id)
    assert (
        sum("resuming on" in line for line in lines) == 1 and sum("started on" in line for line in lines) == 1
    )
    resumed = next(line for line in lines if "resuming after" in line)
    assert f"{committed // CHUNK} committed chunk(s), {committed} rows" in resumed  # not from scratch
    chunks = [int(m.group(1)) for line in lines if (m := re.match(r"chunk (\d+) committed", line))]
    assert chunks == list(range(ROWS // CHUNK))  # each chunk committed once, in order
    assert pq.read_table(scratch / "out.parquet").column("row_id").to_numpy().tolist() == ids.tolist()
    assert sorted(p.name for p in scratch.iterdir()) == ["in.parquet", "out.parquet"]  # killed temp gone
    assert all(worker.process.poll() is None for worker in workers[1:])


def test_training_resumes_from_its_last_epoch_checkpoint_after_kill_9(
    store: Store, isolated_home: Path, workers: list[WorkerProcess]
) -> None:
    """Attempt 2 picks up at the epoch after attempt 1's last checkpoint, and the run's history holds each
    epoch once. (Training on to registration is what every train job does: tests/e2e/test_platform.py.)"""
    add_dataset(store, "iris", "builtin:iris", IngestOptions())
    config = parse_run_config({"data": "iris", "model": "mlp", "train": {"epochs": 500, "batch_size": 8}})
    job = submit_train(store, config, by="test")
    run_id = job.params["run_id"]
    assert get_run(store, run_id).status == "queued"
    workers.append(WorkerProcess(isolated_home))
    until(lambda: get_job(store, job.id).progress.done >= 3, timeout_s=60, what="3 epochs")
    _freeze_then_kill(workers[0])
    checkpoints = sorted((store.runs_dir / run_id / "checkpoints").glob("epoch-*.pt"))
    last = int(checkpoints[-1].stem.removeprefix("epoch-"))
    assert last >= 3

    workers.append(WorkerProcess(isolated_home))
    until(lambda: get_job(store, job.id).progress.done >= last + 3, timeout_s=60, what="3 more epochs")
    assert cancel_job(store, job.id, by="test").cancel_requested
    done = until(lambda: _finished(store, job.id), what="the cancel")
    assert isinstance(done, JobInfo)
    assert done.state == CANCELLED and done.attempts == 2, done.error
    lines = _lines(store, job.id)
    at = lines.index(f"resuming run {run_id} from its checkpoint of epoch {last}")
    assert next(line for line in lines[at:] if line.startswith("epoch ")).startswith(f"epoch {last + 1}:")
    run = get_run(store, run_id)
    epochs = [int(e["epoch"]) for e in run.history]
    assert run.status == "cancelled" and epochs == list(range(1, len(epochs) + 1)) and len(epochs) > last + 1


@pytest.mark.parametrize("cooperates", [True, False])
def test_cancel_stops_a_running_job_within_seconds(
    store: Store, tiny: object, scratch: Path, isolated_home: Path, cooperates: bool
) -> None:
    job, _ = _batch(store, scratch)
    pool = WorkerPool(store, PoolOptions(concurrency=1, cancel_grace_s=0.5)).start()
    try:
        child = until(lambda: job_processes(os.getpid()), what="the job's process")[0]  # type: ignore[index]
        until(lambda: get_job(store, job.id).progress.done >= 5 * CHUNK, what="5 committed chunks")
        if not cooperates:  # its code can no longer see the cancel: the worker must end the process
            freeze_between_writes(child, isolated_home / "modelplane.db")
        asked = time.monotonic()
        cancel_job(store, job.id, by="bob")
        done = until(lambda: _finished(store, job.id), what="the cancel")
        elapsed = time.monotonic() - asked
    finally:
        pool.stop()
    assert isinstance(done, JobInfo) and done.state == CANCELLED
    assert elapsed < 2.0, elapsed
    if not cooperates:
        assert "did not stop within" in (done.error or "")
    until(lambda: not child.is_running() or child.status() == psutil.STATUS_ZOMBIE, what="the process")
    assert sorted(p.name for p in scratch.iterdir()) == ["in.parquet"]  # no output, no temp file
    assert not (store.runs_dir.parent / "jobs" / job.id).exists()  # no parts
    assert live_workers(store) == 0


def _executors(besides: frozenset[int] = frozenset()) -> list[psutil.Process]:
    """This process's job processes that have not exited, but for the pids in `besides` (those an earlier
    test in this process may still be ending)."""
    found = []
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
            if child.pid in besides or "modelplane.jobs.spare" not in child.cmdline():
                continue
            if child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
    return found


def _handed_over(caplog: pytest.LogCaptureFixture, job_id: str) -> list[str]:
    """The worker's record of each attempt of `job_id` and the process it handed that attempt to."""
    return [m for r in caplog.records if (m := r.getMessage()).startswith(f"job {job_id} (batch) attempt")]


def test_a_job_runs_in_the_process_the_worker_started_ahead_and_a_stopped_worker_leaves_none(
    store: Store, tiny: object, scratch: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker's log says which process got each attempt: the test need not catch the job's process
    while it runs (under load the job can be over before the test looks)."""
    caplog.set_level(logging.INFO, logger="modelplane.jobs.pool")
    earlier = frozenset(p.pid for p in _executors())
    pool = WorkerPool(store, PoolOptions(concurrency=1)).start()
    try:
        found = until(lambda: _executors(earlier), what="the process started before any job")
        assert isinstance(found, list) and len(found) == 1
        spare: psutil.Process = found[0]
        job, _ = _batch(store, scratch)
        done = until(lambda: _finished(store, job.id), what="the job")
        assert isinstance(done, JobInfo)
        assert done.state == SUCCEEDED, done.error
        # One attempt, in the spare: the job did not wait for a new process's imports, nor lose a try.
        assert _handed_over(caplog, job.id) == [f"job {job.id} (batch) attempt 1: process {spare.pid}"], (
            _lines(store, job.id)
        )
        assert done.attempts == 1
        until(lambda: len(_executors(earlier)) == 1, what="the job's process gone, the next one ready")
    finally:
        pool.stop()
    until(lambda: not _executors(earlier), what="every job process to end with the worker")


def test_a_job_process_started_before_the_pool_runs_its_first_job(
    store: Store, tiny: object, scratch: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`modelplane worker` starts its first job process before it imports the store and the pool."""
    caplog.set_level(logging.INFO, logger="modelplane.jobs.pool")
    options = PoolOptions(concurrency=1)
    early = start_job_process(job_threads(job_concurrency(options.concurrency)))
    pool = WorkerPool(store, options, spare=early).start()
    try:
        job, _ = _batch(store, scratch)
        done = until(lambda: _finished(store, job.id), what="the job")
        assert isinstance(done, JobInfo)
        assert done.state == SUCCEEDED, done.error
        assert _handed_over(caplog, job.id) == [f"job {job.id} (batch) attempt 1: process {early.pid}"], (
            _lines(store, job.id)
        )
    finally:
        pool.stop()
    until(lambda: not _executors(), what="every job process to end with the worker")


def test_a_next_job_process_that_cannot_start_does_not_cost_the_job_handed_over(
    store: Store,
    tiny: object,
    scratch: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Starting the spare for the next job fails (fork refused: EAGAIN under load); the job just handed
    to the current spare runs on, once, and the worker starts a process when the next job comes."""
    caplog.set_level(logging.INFO, logger="modelplane.jobs.pool")
    started: list[int] = []

    def start_or_refuse(threads: int) -> subprocess.Popen[bytes]:
        started.append(threads)
        if len(started) == 2:
            raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
        return start_job_process(threads)

    monkeypatch.setattr(pool_module, "start_job_process", start_or_refuse)
    pool = WorkerPool(store, PoolOptions(concurrency=1)).start()
    try:
        found = until(_executors, what="the process started before any job")
        assert isinstance(found, list) and len(found) == 1
        first, _ = _batch(store, scratch)
        done = until(lambda: _finished(store, first.id), what="the job")
        assert isinstance(done, JobInfo)
        assert done.state == SUCCEEDED and done.attempts == 1, _lines(store, first.id)
        assert _handed_over(caplog, first.id) == [f"job {first.id} (batch) attempt 1: process {found[0].pid}"]
        assert "the next job process could not start" in caplog.text
        second = submit_batch(
            store,
            BatchRequest(
                deployment="tiny",
                input=str(scratch / "in.parquet"),
                output=str(scratch / "again.parquet"),
                id_column="row_id",
            ),
            by="test",
        )
        done = until(lambda: _finished(store, second.id), what="the next job")
        assert isinstance(done, JobInfo)
        assert done.state == SUCCEEDED and done.attempts == 1, _lines(store, second.id)
    finally:
        pool.stop()
    until(lambda: not _executors(), what="every job process to end with the worker")

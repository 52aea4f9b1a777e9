"""A data-parallel training job (`train.workers: 2`) run by a real worker: kill -9 of one of its ranks ends
the attempt, the worker requeues the job, and the next attempt resumes from the last epoch checkpoint; the
run's history holds each epoch once and the version registers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from modelplane.data.ingest import IngestOptions, add_dataset
from modelplane.jobs.queue import get_job, read_log
from modelplane.jobs.train import submit_train
from modelplane.jobs.views import SUCCEEDED, JobInfo
from modelplane.store import Store
from modelplane.training.run_catalog import get_run
from modelplane.training.runs import parse_run_config
from tests.jobs.conftest import until
from tests.jobs.workers import WorkerProcess

EPOCHS = 5


@pytest.fixture
def worker(isolated_home: Path) -> Iterator[WorkerProcess]:
    started = WorkerProcess(isolated_home)
    yield started
    started.stop()


def _ranks(worker: WorkerProcess) -> list[psutil.Process]:
    """The rank processes of the worker's running job (spawned by torch.multiprocessing)."""
    job = worker.job_process()
    if job is None:
        return []
    try:
        children = job.children()
        return sorted(
            (p for p in children if any("spawn_main" in part for part in p.cmdline())), key=lambda p: p.pid
        )
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return []


def test_kill_9_of_a_rank_resumes_the_job_from_its_last_epoch_checkpoint(
    store: Store, worker: WorkerProcess
) -> None:
    add_dataset(store, "digits", "builtin:digits", IngestOptions())
    config = parse_run_config(
        {"data": "digits", "model": "mlp", "train": {"epochs": EPOCHS, "batch_size": 16, "workers": 2}}
    )
    job = submit_train(store, config, by="test")
    run_id = job.params["run_id"]
    until(lambda: get_job(store, job.id).progress.done >= 2, timeout_s=60, what="2 epochs")
    ranks = until(lambda: len(found := _ranks(worker)) == 2 and found, what="two ranks")
    assert isinstance(ranks, list)
    ranks[1].suspend()  # frozen mid-run: rank 0 soon waits for it at a collective
    ranks[1].kill()
    _, alive = psutil.wait_procs([ranks[0]], timeout=30)  # ended by its job process, which then exits
    assert not alive
    checkpoints = sorted((store.runs_dir / run_id / "checkpoints").glob("epoch-*.pt"))
    last = int(checkpoints[-1].stem.removeprefix("epoch-"))
    assert 2 <= last < EPOCHS

    done = until(lambda: (j := get_job(store, job.id)).finished and j, timeout_s=90, what="the job to end")
    assert isinstance(done, JobInfo)
    assert done.state == SUCCEEDED and done.attempts == 2, done.error
    lines = [line.line for line in read_log(store, job.id, limit=10_000)[1]]
    assert any("queued again, to resume from its last checkpoint" in line for line in lines)
    at = lines.index(f"resuming run {run_id} from its checkpoint of epoch {last}")
    assert next(line for line in lines[at:] if line.startswith("epoch ")).startswith(f"epoch {last + 1}:")
    run = get_run(store, run_id)
    assert run.status == "succeeded" and run.model_version == "digits-mlp@1"
    assert [int(e["epoch"]) for e in run.history] == list(range(1, EPOCHS + 1))
    assert all(e["workers"] == 2 for e in run.history)

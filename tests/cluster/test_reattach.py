"""The fault the ray backend exists to survive: the modelplane worker following a training job on Ray is
killed (kill -9, its job process with it) while Ray trains; a worker started afterwards takes the job over,
re-attaches to the running Ray driver instead of training again, and the run ends with each epoch once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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

EPOCHS = 30  # enough steps that training is still running when its worker is killed


@pytest.fixture
def workers(isolated_home: Path) -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


def test_a_restarted_worker_reattaches_to_the_running_ray_driver(
    store: Store, on_ray: str, isolated_home: Path, workers: list[WorkerProcess]
) -> None:
    add_dataset(store, "iris", "builtin:iris", IngestOptions())
    config = parse_run_config(
        {"data": "iris", "model": "mlp", "train": {"epochs": EPOCHS, "batch_size": 4, "workers": 2}}
    )
    job = submit_train(store, config, by="test")
    workers.append(WorkerProcess(isolated_home, "--lease", "3"))
    # Generous: on a 2-core machine running the suite two files at a time, starting the Ray driver and its
    # two DDP workers once took over 120 s (a suite that took 2,116 s instead of the usual ~1,000).
    until(lambda: get_job(store, job.id).progress.done >= 1, timeout_s=300, what="the first epoch on Ray")
    follower = workers[0].job_process()
    workers[0].kill9()
    if follower is not None:
        follower.kill()
    assert get_job(store, job.id).progress.done < EPOCHS, "training ended before the worker was killed"

    workers.append(WorkerProcess(isolated_home, "--lease", "3"))
    done = until(lambda: (j := get_job(store, job.id)).finished and j, timeout_s=300, what="the job to end")
    assert isinstance(done, JobInfo)
    assert done.state == SUCCEEDED and done.attempts == 2, done.error
    lines = [line.line for line in read_log(store, job.id, limit=10_000)[1]]
    assert sum(line.startswith("started Ray driver") for line in lines) == 1
    assert sum(line.startswith("re-attached to Ray driver") for line in lines) == 1
    run = get_run(store, str(job.params["run_id"]))
    assert run.status == "succeeded" and run.model_version == "iris-mlp@1"
    assert [int(e["epoch"]) for e in run.history] == list(range(1, EPOCHS + 1))
    assert done.cluster["driver"] == f"job-{job.id}" and done.cluster["train_run"]

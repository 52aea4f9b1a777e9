"""Training on the ray backend, against a real Ray head: a run trains on Ray Train's workers, registers its
version exactly as a local run does and learns what the local launcher learns; a Ray Train worker killed
mid-run is restarted from the last epoch checkpoint, and the run's history shows each epoch once."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil
import pytest

from modelplane.config import get_settings
from modelplane.local import Local


@pytest.fixture
def platform(on_ray: str, isolated_home: Path) -> Local:
    local = Local()
    local.datasets.add("iris", source="builtin:iris")
    return local


def test_a_run_trains_on_ray_train_and_registers_like_a_local_run(
    platform: Local, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = {"data": "iris", "model": "mlp", "train": {"epochs": 3, "batch_size": 16, "workers": 2}}
    epochs: list[int] = []
    run = platform.train(config, on_epoch=lambda metrics: epochs.append(int(metrics["epoch"])))
    assert run.status == "succeeded" and run.model_version == "iris-mlp@1"
    assert [int(e["epoch"]) for e in run.history] == [1, 2, 3] == epochs
    assert all(e["workers"] == 2 for e in run.history)
    job = platform.jobs.list(kind="train")[0]
    assert job.cluster["train_run"] == f"modelplane-run-{run.id}" and job.cluster["driver"] == f"job-{job.id}"
    version = platform.models.version("iris-mlp@1")
    assert version.metrics["onnx_max_abs_diff"] <= 1e-4 and version.run_id == run.id

    monkeypatch.delenv("MODELPLANE_RAY_ADDRESS")  # the same run config, embedded (the local launcher)
    get_settings.cache_clear()
    local = Local().train(config)
    assert [int(e["epoch"]) for e in local.history] == [1, 2, 3]
    assert abs(local.metrics["test"]["accuracy"] - run.metrics["test"]["accuracy"]) <= 0.05


def test_a_killed_ray_train_worker_restarts_from_the_last_epoch_and_each_epoch_is_recorded_once(
    platform: Local,
) -> None:
    killed: list[int] = []

    def kill_a_worker(metrics: dict[str, float]) -> None:
        if killed or int(metrics["epoch"]) != 2:
            return
        processes = psutil.process_iter(["cmdline"])
        workers = [p for p in processes if "RayTrainWorker" in " ".join(p.info["cmdline"] or [])]
        assert workers, "no Ray Train worker process found"
        os.kill(workers[0].pid, signal.SIGKILL)
        killed.append(workers[0].pid)

    config = {"data": "iris", "model": "mlp", "train": {"epochs": 6, "batch_size": 16, "workers": 2}}
    run = platform.train(config, on_epoch=kill_a_worker)
    assert killed and run.status == "succeeded"
    assert [int(e["epoch"]) for e in run.history] == [1, 2, 3, 4, 5, 6]

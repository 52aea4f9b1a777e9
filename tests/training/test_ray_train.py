"""Training on the ray backend, against a real Ray head: a run trains on Ray Train's workers, registers its
version exactly as a local run does and learns what the local launcher learns; a Ray Train worker killed
mid-run is restarted from the last epoch checkpoint, and the run's history shows each epoch once."""

from __future__ import annotations

import os
import threading
import time
import uuid
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
    platform: Local, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A PYTHONPATH entry of this test's own reaches its Ray workers' environment (cluster/connect.py), so
    # the worker killed is this run's, not one of another test sharing the head.
    marker = f"/nonexistent/{uuid.uuid4().hex}"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([os.environ["PYTHONPATH"], marker]))
    epochs, killed_after = 16, []
    finished = threading.Event()

    def kill_a_worker_after_the_first_checkpoint() -> None:
        while not finished.is_set():
            files = isolated_home.glob("runs/*/checkpoints/*.pt")
            saved = [int(p.stem.removeprefix("epoch-")) for p in files]
            workers = _train_workers(marker) if saved else []
            if workers:
                workers[0].kill()
                killed_after.append(max(saved))
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_a_worker_after_the_first_checkpoint, daemon=True)
    killer.start()
    config = {"data": "iris", "model": "mlp", "train": {"epochs": epochs, "batch_size": 4, "workers": 2}}
    try:
        run = platform.train(config)
    finally:
        finished.set()
        killer.join()
    assert killed_after and killed_after[0] < epochs, "the worker was killed after training ended"
    assert run.status == "succeeded"
    assert [int(e["epoch"]) for e in run.history] == list(range(1, epochs + 1))


def _train_workers(marker: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            ours = marker in process.environ().get("PYTHONPATH", "")
            if ours and "RayTrainWorker" in " ".join(process.info["cmdline"] or []):
                found.append(process)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return found

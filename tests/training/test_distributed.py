"""Data-parallel training (`train.workers`, `--shard`): two local ranks learn what one process learns at the
same global batch, each epoch is reported once, a sharded model registers and serves like its ONNX export,
and the refusals and notes a user meets say what to do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from modelplane.errors import Invalid
from modelplane.local import Local
from modelplane.models.frameworks import default_spec, framework
from modelplane.models.spec import BaseSpec
from modelplane.registry.loading import load_runtime
from modelplane.training import launcher
from modelplane.training.config import TrainConfig
from modelplane.training.launcher import fit_torch_distributed
from modelplane.training.torch_trainer import fit_torch
from tests.cli_helpers import run_cli
from tests.training.conftest import Split


def _mlp() -> tuple[BaseSpec, nn.Module]:
    spec = default_spec("mlp", task="classification", input_shape=[64], num_outputs=10)
    model: nn.Module = framework("torch").build(spec, seed=0)
    return spec, model


def test_two_ranks_learn_what_one_process_learns_at_the_same_global_batch(
    digits: tuple[Split, Split, Split],
) -> None:
    train, val, _ = digits
    config = TrainConfig(epochs=3, batch_size=64, workers=2)
    spec, model = _mlp()
    single = fit_torch(model, spec, config, train, val)
    seen: list[int] = []
    spec, model = _mlp()
    ranks = fit_torch_distributed(
        model,
        spec,
        config,
        train,
        val,
        workers=2,
        on_epoch=lambda metrics: seen.append(int(metrics["epoch"])),
    )
    assert seen == [1, 2, 3] and [int(e["epoch"]) for e in ranks.history] == [1, 2, 3]
    assert all(e["workers"] == 2 for e in ranks.history)
    assert ranks.history[-1]["train_loss"] < ranks.history[0]["train_loss"]
    assert abs(ranks.history[-1]["val_accuracy"] - single.history[-1]["val_accuracy"]) <= 0.03
    x_val = val[0][:50]
    with torch.no_grad():
        predicted = ranks.model(torch.from_numpy(x_val)).argmax(1).numpy()
    assert (predicted == val[1][:50]).mean() > 0.8  # the model handed back holds the trained weights


@pytest.fixture
def platform(isolated_home: Path) -> Local:
    local = Local()
    local.datasets.add("digits", source="builtin:digits")
    return local


def test_a_sharded_run_registers_a_model_that_serves_as_its_onnx_export(platform: Local) -> None:
    run = platform.train(
        data="digits", model="cnn", train={"epochs": 2, "batch_size": 64, "workers": 2, "shard": True}
    )
    losses = [e["train_loss"] for e in run.history]
    assert run.status == "succeeded" and [int(e["epoch"]) for e in run.history] == [1, 2]
    assert losses[1] < losses[0] and run.metrics["test"]["accuracy"] > 0.8
    version = platform.models.version(run.model_version or "")
    assert version.metrics["onnx_max_abs_diff"] <= 1e-4
    rows = np.random.default_rng(0).uniform(0, 16, (7, 64)).astype(np.float32)
    onnx = load_runtime(platform.store, version).predict(rows)
    native = load_runtime(platform.store, version, "native").predict(rows)
    np.testing.assert_allclose(onnx["probabilities"], native["probabilities"], atol=1e-4)


def test_an_interrupted_sharded_run_resumes_from_its_gathered_checkpoint(platform: Local) -> None:
    def stop_after_two(metrics: dict[str, float]) -> None:
        if metrics["epoch"] == 2:
            raise KeyboardInterrupt

    train = {"epochs": 3, "batch_size": 64, "workers": 2, "shard": True}
    with pytest.raises(KeyboardInterrupt):
        platform.train(data="digits", model="mlp", train=train, on_epoch=stop_after_two)
    interrupted = platform.runs.list()[0]
    assert interrupted.status == "interrupted" and [int(e["epoch"]) for e in interrupted.history] == [1, 2]
    resumed = platform.resume(interrupted.id)
    assert resumed.status == "succeeded" and [int(e["epoch"]) for e in resumed.history] == [1, 2, 3]
    assert resumed.history[2]["train_loss"] < resumed.history[0]["train_loss"] / 2  # not from scratch


def test_scikit_learn_refuses_workers_before_a_run_is_recorded(platform: Local) -> None:
    with pytest.raises(Invalid, match=r"n_jobs=-1.*use a family that trains data-parallel: mlp, cnn"):
        platform.train(data="digits", model="random_forest", train={"workers": 2})
    assert platform.runs.list() == []
    with pytest.raises(Invalid, match=r"field 'train.shard'.*set workers to 2 or more"):
        platform.train(data="digits", model="cnn", train={"shard": True})


def test_a_run_config_asking_more_workers_than_cores_trains_with_the_cores_and_says_so(
    platform: Local, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(launcher, "usable_cores", lambda: 2)
    config = tmp_path / "run.yaml"
    config.write_text(
        yaml.safe_dump(
            {"data": "digits", "model": "mlp", "train": {"epochs": 2, "batch_size": 32, "workers": 3}}
        )
    )
    result = run_cli(capsys, "train", "--config", str(config), "--json", "--quiet")
    assert result.code == 0, result.err
    assert "note: --workers 3 is more than the 2 usable cores; training with 2 workers" in result.err
    run = result.json()
    assert [(int(e["epoch"]), e["workers"]) for e in run["history"]] == [(1, 2), (2, 2)]
    assert run["config"]["workers"] == 3 and run["model_version"] == "digits-mlp@1"


def test_single_process_training_imports_no_launcher_and_no_ray() -> None:
    code = (
        "import sys, modelplane.models.torch_framework, modelplane.training.runs, modelplane.jobs.train; "
        "loaded = {'modelplane.training.launcher', 'modelplane.training.distributed', 'ray'}; "
        "assert not loaded & set(sys.modules), loaded & set(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

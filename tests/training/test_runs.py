"""Runs: recorded inputs and per-epoch metrics, registration with lineage, interruption and resume."""

from __future__ import annotations

import numpy as np
import pytest

from modelplane.errors import Conflict, Invalid
from modelplane.local import Local
from modelplane.registry.loading import load_native, load_runtime


@pytest.fixture
def platform() -> Local:
    local = Local()
    local.datasets.add("digits", source="builtin:digits")
    return local


def test_run_records_epochs_and_registers_a_servable_version(platform: Local) -> None:
    run = platform.train(data="digits", model="mlp", train={"epochs": 3, "batch_size": 32})
    assert run.status == "succeeded" and run.model_version == "digits-mlp@1"
    assert [int(e["epoch"]) for e in run.history] == [1, 2, 3]
    assert {"train_loss", "val_loss", "val_accuracy"} <= set(run.history[0])
    version = platform.models.version("digits-mlp@1")
    assert version.run_id == run.id and version.dataset == "digits@1" and version.framework == "torch"
    assert version.params["train"]["epochs"] == 3 and version.code_version
    assert version.metrics["onnx_max_abs_diff"] <= 1e-4
    assert version.metrics["test"]["accuracy"] > 0.8
    rows = np.random.default_rng(0).uniform(0, 16, (7, 64)).astype(np.float32)
    onnx = load_runtime(platform.store, version).predict(rows)
    native = load_runtime(platform.store, version, "native").predict(rows)
    np.testing.assert_allclose(onnx["probabilities"], native["probabilities"], atol=1e-4)


def test_interrupted_run_resumes_from_its_checkpoint(platform: Local) -> None:
    seen: list[int] = []

    def stop_after_two(metrics: dict[str, float]) -> None:
        seen.append(int(metrics["epoch"]))
        if metrics["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        platform.train(data="digits", model="mlp", train={"epochs": 4}, on_epoch=stop_after_two)
    interrupted = platform.runs.list()[0]
    assert interrupted.status == "interrupted" and "--resume" in (interrupted.error or "")
    assert [int(e["epoch"]) for e in interrupted.history] == [1, 2]

    resumed = platform.resume(interrupted.id[:6])
    assert resumed.status == "succeeded" and [int(e["epoch"]) for e in resumed.history] == [1, 2, 3, 4]
    uninterrupted = platform.train(data="digits", model="mlp", name="again", train={"epochs": 4})
    a = load_native(platform.store, platform.models.version(resumed.model_version or ""))
    b = load_native(platform.store, platform.models.version(uninterrupted.model_version or ""))
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert np.array_equal(pa.numpy(), pb.numpy()), name
    with pytest.raises(Conflict, match="succeeded"):
        platform.resume(resumed.id)


def test_sklearn_run_and_unknown_kind(platform: Local) -> None:
    run = platform.train(data="digits", model="logreg")
    version = platform.models.version(run.model_version or "")
    assert version.framework == "sklearn" and version.onnx_sha is not None
    with pytest.raises(Invalid, match="unknown model"):
        platform.train(data="digits", model="resnet")
    assert len(platform.runs.list()) == 1


def test_regression_run_on_diabetes() -> None:
    local = Local()
    local.datasets.add("diabetes", source="builtin:diabetes")
    run = local.train(data="diabetes", model="mlp", train={"epochs": 5})
    test = run.metrics["test"]
    assert {"mse", "mae", "r2"} <= set(test)
    version = local.models.version(run.model_version or "")
    assert version.task == "regression" and version.onnx_sha is not None

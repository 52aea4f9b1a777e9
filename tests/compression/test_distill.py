"""Distillation: the student spec follows the teacher, the loss is Hinton's, the student is a version."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from modelplane.compression.distill import distillation_loss, runtime_teacher, student_spec
from modelplane.errors import Invalid
from modelplane.models.spec import CNNSpec, MLPSpec, RNNSpec
from modelplane.registry.loading import load_runtime
from tests.compression.conftest import Zoo


def test_loss_blends_teacher_and_labels() -> None:
    out = torch.randn(6, 3)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    x = torch.zeros(6, 2)
    mirror = distillation_loss(lambda _: out, task="classification", temperature=3.0, alpha=1.0)
    assert float(mirror(out, labels, x)) == pytest.approx(0.0, abs=1e-6)  # a student equal to its teacher
    only_labels = distillation_loss(
        lambda _: torch.randn(6, 3), task="classification", temperature=3.0, alpha=0.0
    )
    assert float(only_labels(out, labels, x)) == pytest.approx(float(F.cross_entropy(out, labels)))
    teacher = torch.randn(6, 2)
    regression = distillation_loss(lambda _: teacher, task="regression", temperature=9.0, alpha=0.5)
    target = torch.randn(6, 2)
    expected = 0.5 * F.mse_loss(out[:, :2], teacher) + 0.5 * F.mse_loss(out[:, :2], target)
    assert float(regression(out[:, :2], target, x)) == pytest.approx(float(expected))


def test_trainer_takes_a_training_loss_and_keeps_validation_comparable() -> None:
    from modelplane.models.frameworks import default_spec
    from modelplane.models.torch_zoo import build_torch_model
    from modelplane.training.config import TrainConfig
    from modelplane.training.torch_trainer import fit_torch

    spec = default_spec(
        "mlp", task="classification", input_shape=[4], num_outputs=3, overrides={"hidden": [4]}
    )
    x = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    y = np.arange(30) % 3
    seen: list[torch.Tensor] = []

    def constant(out: torch.Tensor, target: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        seen.append(inputs)
        return out.sum() * 0 + 5.0  # no gradient signal: the weights must not move

    model = build_torch_model(spec)
    before = [p.detach().clone() for p in model.parameters()]
    config = TrainConfig(epochs=1, batch_size=10, optimizer="sgd", device="cpu")
    result = fit_torch(model, spec, config, (x, y), (x, y), loss=constant)
    assert result.history[0]["train_loss"] == pytest.approx(5.0) and len(seen) == 3
    assert result.history[0]["val_loss"] != pytest.approx(5.0)  # validation keeps the task's loss
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


class _Probabilities:
    """Any runtime honouring the contract can teach: here, fixed class probabilities."""

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return {"probabilities": np.tile(np.array([[0.2, 0.8, 0.0]], np.float32), (len(x), 1))}


def test_runtime_teacher_gives_logits_up_to_a_constant() -> None:
    logits = runtime_teacher(_Probabilities(), "classification")(torch.zeros(2, 5))
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()  # log(0) is clipped
    np.testing.assert_allclose(torch.softmax(logits, -1)[0].numpy(), [0.2, 0.8, 0.0], atol=1e-6)


def test_student_spec_follows_the_teacher(zoo: Zoo) -> None:
    teacher = zoo.local.models.version(zoo.cnn)
    data = zoo.local.datasets.get("digits")
    spec = student_spec("mlp:24,12", teacher, data)
    assert isinstance(spec, MLPSpec) and (spec.hidden, spec.input_shape, spec.num_outputs) == (
        [24, 12],
        [64],
        10,
    )
    cnn = student_spec("cnn:2,4", teacher, data)
    assert isinstance(cnn, CNNSpec) and cnn.chw() == (1, 8, 8) and cnn.channels == [2, 4]
    gru = student_spec({"kind": "gru", "hidden_size": 8}, teacher, data)
    assert isinstance(gru, RNNSpec) and gru.tf() == (8, 8)
    with pytest.raises(Invalid, match=r"sets input_shape to \[4\] but the teacher .* has \[64\]"):
        student_spec({"kind": "mlp", "input_shape": [4]}, teacher, data)
    with pytest.raises(Invalid, match="must be a torch model"):
        student_spec({"kind": "logreg"}, teacher, data)
    with pytest.raises(Invalid, match="one hidden size"):
        student_spec("lstm:8,8", teacher, data)


def test_distilled_student_is_a_new_version(zoo: Zoo) -> None:
    result = zoo.local.compress(zoo.cnn, distill="mlp:16", epochs=1, temperature=2.0, alpha=0.5)
    version = result.version
    made = version.params["compression"]
    assert version.parent == zoo.cnn and version.model == "digits-cnn" and version.kind == "mlp"
    assert version.spec["hidden"] == [16] and version.framework == "torch"
    assert made["student"] == "mlp:16" and (made["temperature"], made["alpha"]) == (2.0, 0.5)
    assert made["parameters"] == 64 * 16 + 16 + 16 * 10 + 10
    assert made["teacher_parameters"] == result.report.versions[0].parameters
    assert version.metrics["epochs_run"] == 1 and "accuracy" in version.metrics["test"]
    rows = np.zeros((3, 64), np.float32)
    assert load_runtime(zoo.local.store, version).predict(rows)["label"].shape == (3,)


def test_distill_refusals(zoo: Zoo) -> None:
    with pytest.raises(Invalid, match="alpha weighs the teacher"):
        zoo.local.compress(zoo.cnn, distill="mlp:8", alpha=1.5)
    with pytest.raises(Invalid, match="--epochs must be at least 1"):
        zoo.local.compress(zoo.cnn, distill="mlp:8", epochs=0)
    with pytest.raises(Invalid, match="unknown student"):
        zoo.local.compress(zoo.cnn, distill="transformer:8")

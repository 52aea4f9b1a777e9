"""fit_torch: learns, is reproducible, resumes bit-for-bit, stops early, and validates its inputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from modelplane.errors import Invalid
from modelplane.models.frameworks import default_spec, parse_spec
from modelplane.models.torch_zoo import build_torch_model, standardizer
from modelplane.training.config import TrainConfig
from modelplane.training.torch_trainer import FitResult, feature_stats, fit_torch
from tests.training.helpers import MemoryCheckpointer

Splits = Any


def image_spec(kind: str = "cnn", **overrides: Any) -> Any:
    return default_spec(
        kind,
        task="classification",
        input_shape=[64],
        num_outputs=10,
        image_shape=[1, 8, 8],
        overrides=overrides,
    )


def fit(spec: Any, config: TrainConfig, digits: Splits, n: int = 400, **kwargs: Any) -> FitResult:
    (x, y), val, _ = digits
    return fit_torch(build_torch_model(spec), spec, config, (x[:n], y[:n]), val, **kwargs)


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_short_fit_learns(digits: Splits) -> None:
    spec = image_spec("mlp")
    result = fit(spec, TrainConfig(epochs=4), digits, n=800)
    history = result.history
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert set(history[0]) == {
        "epoch",
        "train_loss",
        "val_loss",
        "val_accuracy",
        "lr",
        "seconds",
        "samples_per_s",
    }
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["val_accuracy"] > 0.85
    _, _, (x_test, y_test) = digits
    accuracy = (result.model(torch.from_numpy(x_test)).argmax(1).numpy() == y_test).mean()
    assert accuracy > 0.85
    assert not result.model.training
    assert result.resumed_from_epoch is None and not result.stopped_early


def test_normalisation_is_fitted_on_train(digits: Splits) -> None:
    (x, _), _, _ = digits
    result = fit(image_spec("mlp"), TrainConfig(epochs=1), digits, n=len(x))
    mean, std = feature_stats(x)
    fitted = standardizer(result.model)
    np.testing.assert_allclose(fitted.mean.numpy(), mean, rtol=1e-6)
    assert fitted.std[0].item() == 1.0  # digits' first pixel is always 0
    np.testing.assert_allclose(fitted.std.numpy()[std > 0], std[std > 0], rtol=1e-6)
    plain = fit(image_spec("mlp", normalize=False), TrainConfig(epochs=1), digits)
    assert torch.equal(standardizer(plain.model).mean, torch.zeros(64))


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_recurrent_models_learn(kind: str, digits: Splits) -> None:
    result = fit(image_spec(kind), TrainConfig(epochs=5, lr=5e-3), digits, n=800)
    assert result.history[-1]["val_accuracy"] > 0.6


def test_regression_metrics(digits: Splits) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5)).astype(np.float32)
    w = rng.normal(size=(5, 2))
    y = (x @ w).astype(np.float32)
    spec = parse_spec(
        {"kind": "mlp", "task": "regression", "input_shape": [5], "num_outputs": 2, "dropout": 0}
    )
    config = TrainConfig(epochs=8, lr=1e-2, monitor="val_mae")
    result = fit_torch(
        build_torch_model(spec), spec, config, (x[:240], y[:240]), (x[240:], y[240:])
    )
    first, last = result.history[0], result.history[-1]
    assert {"val_mse", "val_mae"} <= set(last) and "val_accuracy" not in last
    assert last["val_mse"] == last["val_loss"] < first["val_mse"] * 0.5
    spec1 = parse_spec({"kind": "mlp", "task": "regression", "input_shape": [5], "num_outputs": 1})
    single = fit_torch(
        build_torch_model(spec1), spec1, TrainConfig(epochs=1), (x, y[:, 0]), (x, y[:, 0])
    )
    assert single.model(torch.from_numpy(x)).shape == (300, 1)


def test_uint8_features(digits: Splits) -> None:
    (x, y), (xv, yv), _ = digits
    spec = image_spec("mlp")
    as_float = fit_torch(
        build_torch_model(spec), spec, TrainConfig(epochs=2), (x, y), (xv, yv)
    )
    as_bytes = fit_torch(
        build_torch_model(spec),
        spec,
        TrainConfig(epochs=2),
        (x.astype(np.uint8), y),
        (xv.astype(np.uint8), yv),
    )
    assert same_weights(as_float.model, as_bytes.model)


def test_same_seed_same_weights_and_global_rng_untouched(digits: Splits) -> None:
    spec = image_spec("cnn")
    config = TrainConfig(epochs=2, augment={"shift": 1, "noise": 0.5})
    before = torch.get_rng_state()
    a, b = fit(spec, config, digits), fit(spec, config, digits)
    assert torch.equal(before, torch.get_rng_state())
    assert same_weights(a.model, b.model)
    assert a.history[-1]["val_loss"] == b.history[-1]["val_loss"]
    c = fit(spec, config.model_copy(update={"seed": 1}), digits)
    assert not same_weights(a.model, c.model)


class Interrupt(Exception):
    pass


@pytest.mark.parametrize(
    ("kind", "config"),
    [
        (
            "cnn",
            TrainConfig(epochs=4, lr_schedule="step", lr_step_size=1, lr_gamma=0.5, augment={"rotation": 10}),
        ),
        ("gru", TrainConfig(epochs=4, optimizer="momentum", lr=0.05, lr_schedule="plateau", lr_patience=0)),
        ("mlp", TrainConfig(epochs=4, optimizer="adamw", lr_schedule="cosine", early_stopping_patience=3)),
    ],
)
def test_resume_gives_the_same_weights(kind: str, config: TrainConfig, digits: Splits) -> None:
    spec = image_spec(kind)
    full = fit(spec, config, digits)

    checkpoints = MemoryCheckpointer()

    def stop_after_two(metrics: dict[str, float]) -> None:
        if metrics["epoch"] == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        fit(spec, config, digits, checkpointer=checkpoints, on_epoch=stop_after_two)
    assert sorted(checkpoints.blobs) == [1, 2]
    resumed = fit(spec, config, digits, checkpointer=checkpoints)
    assert resumed.resumed_from_epoch == 2
    assert sorted(checkpoints.blobs) == [1, 2, 3, 4]
    assert same_weights(full.model, resumed.model)
    assert [h["val_loss"] for h in resumed.history] == [h["val_loss"] for h in full.history]
    assert resumed.best_epoch == full.best_epoch


def test_a_resume_hands_back_the_epochs_its_checkpoint_holds(digits: Splits) -> None:
    """An epoch checkpointed but never recorded (the process died in between) reaches `on_resume`."""
    spec, config = image_spec("mlp"), TrainConfig(epochs=3)
    checkpoints, recorded, restored = MemoryCheckpointer(), [], []

    def die_before_recording_two(metrics: dict[str, float]) -> None:
        if metrics["epoch"] == 2:
            raise Interrupt
        recorded.append(int(metrics["epoch"]))

    with pytest.raises(Interrupt):
        fit(spec, config, digits, checkpointer=checkpoints, on_epoch=die_before_recording_two)
    fit(spec, config, digits, checkpointer=checkpoints, on_resume=restored.extend)
    assert recorded == [1] and [int(h["epoch"]) for h in restored] == [1, 2]


def test_early_stopping_stops_and_restores_best(digits: Splits) -> None:
    (x, y), (xv, yv), _ = digits
    noisy = np.random.default_rng(1).integers(0, 10, size=len(yv))  # val labels the model cannot fit
    spec = image_spec("mlp", dropout=0.0)
    checkpoints = MemoryCheckpointer()
    config = TrainConfig(epochs=30, lr=1e-2, early_stopping_patience=2)
    result = fit_torch(
        build_torch_model(spec), spec, config, (x, y), (xv, noisy), checkpointer=checkpoints
    )
    assert result.stopped_early
    assert len(result.history) == result.best_epoch + 2 < 30
    losses = [h["val_loss"] for h in result.history]
    assert losses[result.best_epoch - 1] == min(losses)
    best = checkpoints.state(result.best_epoch)["model"]
    assert all(torch.equal(best[k], v) for k, v in result.model.state_dict().items())
    again = fit_torch(
        build_torch_model(spec), spec, config, (x, y), (xv, noisy), checkpointer=checkpoints
    )
    assert again.stopped_early and len(again.history) == len(result.history)


def test_monitor_max_metric(digits: Splits) -> None:
    result = fit(image_spec("mlp"), TrainConfig(epochs=3, monitor="val_accuracy"), digits)
    accuracies = [h["val_accuracy"] for h in result.history]
    assert accuracies[result.best_epoch - 1] == max(accuracies)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adagrad", "rmsprop", "adam", "adamw"])
def test_each_optimizer_runs(optimizer: str, digits: Splits) -> None:
    lr = 0.05 if optimizer in ("sgd", "momentum", "adagrad") else 1e-3
    config = TrainConfig(epochs=2, optimizer=optimizer, lr=lr, weight_decay=1e-4)
    result = fit(image_spec("mlp"), config, digits)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("none", [0.01, 0.01, 0.01]),
        ("step", [0.01, 0.005, 0.0025]),
        ("cosine", [0.01, 0.0075, 0.0025]),
    ],
)
def test_schedules(schedule: str, expected: list[float], digits: Splits) -> None:
    config = TrainConfig(epochs=3, lr=0.01, lr_schedule=schedule, lr_step_size=1, lr_gamma=0.5)
    result = fit(image_spec("mlp"), config, digits, n=200)
    assert [h["lr"] for h in result.history] == pytest.approx(expected)


def test_plateau_schedule_decays_when_the_monitor_stalls(digits: Splits) -> None:
    (x, y), (xv, yv), _ = digits
    noisy = np.random.default_rng(1).integers(0, 10, size=len(yv))
    spec = image_spec("mlp")
    config = TrainConfig(epochs=6, lr=1e-2, lr_schedule="plateau", lr_patience=0, lr_gamma=0.5)
    result = fit_torch(build_torch_model(spec), spec, config, (x, y), (xv, noisy))
    lrs = [h["lr"] for h in result.history]
    assert lrs[0] == 1e-2 and lrs[-1] < 1e-2


def test_l1_shrinks_weights(digits: Splits) -> None:
    spec = image_spec("mlp")

    def l1_norm(model: torch.nn.Module) -> float:
        return sum(p.abs().sum().item() for p in model.parameters() if p.dim() > 1)

    plain = fit(spec, TrainConfig(epochs=3), digits)
    sparse = fit(spec, TrainConfig(epochs=3, l1=1e-3), digits)
    assert l1_norm(sparse.model) < 0.8 * l1_norm(plain.model)


def test_augmentation_only_in_training(digits: Splits) -> None:
    (x, y), (xv, yv), _ = digits
    spec = image_spec("cnn")
    model = build_torch_model(spec)
    seen: dict[bool, list[torch.Tensor]] = {True: [], False: []}
    model.register_forward_pre_hook(lambda module, args: seen[module.training].append(args[0].clone()))
    config = TrainConfig(epochs=1, batch_size=500, augment={"noise": 1.0})
    fit_torch(model, spec, config, (x[:500], y[:500]), (xv, yv))
    (train_batch,) = seen[True]
    raw = torch.from_numpy(x[:500])
    # Every augmented row is far from every raw row; the evaluated rows are exactly the raw val set.
    assert torch.cdist(train_batch, raw).min() > 1.0
    torch.testing.assert_close(torch.cat(seen[False]), torch.from_numpy(xv), atol=0, rtol=0)


def test_on_epoch_runs_after_the_checkpoint(digits: Splits) -> None:
    checkpoints = MemoryCheckpointer()
    calls: list[tuple[int, list[int]]] = []
    fit(
        image_spec("mlp"),
        TrainConfig(epochs=2),
        digits,
        n=100,
        checkpointer=checkpoints,
        on_epoch=lambda m: calls.append((int(m["epoch"]), sorted(checkpoints.blobs))),
    )
    assert calls == [(1, [1]), (2, [1, 2])]


def test_single_sample_tail_batch_with_batch_norm(digits: Splits) -> None:
    (x, y), val, _ = digits
    spec = image_spec("mlp", batch_norm=True)
    result = fit_torch(
        build_torch_model(spec),
        spec,
        TrainConfig(epochs=1, batch_size=32),
        (x[:65], y[:65]),
        val,
    )
    assert len(result.history) == 1


def test_bad_inputs_are_invalid(digits: Splits) -> None:
    (x, y), val, _ = digits
    spec = image_spec("mlp")
    model = build_torch_model(spec)
    with pytest.raises(Invalid, match=r"input_shape is \[64\]"):
        fit_torch(model, spec, TrainConfig(), (x.reshape(-1, 8, 8), y), val)
    with pytest.raises(Invalid, match=r"labels must be 0..9"):
        fit_torch(model, spec, TrainConfig(), (x, y + 1), val)
    with pytest.raises(Invalid, match=r"field 'augment'.*no image view"):
        flat = parse_spec({"kind": "mlp", "task": "classification", "input_shape": [64], "num_outputs": 10})
        fit_torch(
            build_torch_model(flat), flat, TrainConfig(augment={"noise": 1}), (x, y), val
        )
    with pytest.raises(Invalid, match=r"field 'monitor'"):
        fit_torch(model, spec, TrainConfig(monitor="val_mse"), (x, y), val)
    with pytest.raises(Invalid, match=r"val split needs at least one sample"):
        fit_torch(model, spec, TrainConfig(), (x, y), (x[:0], y[:0]))


def test_mismatched_checkpoint_is_invalid(digits: Splits) -> None:
    checkpoints = MemoryCheckpointer()
    fit(image_spec("mlp"), TrainConfig(epochs=1), digits, n=100, checkpointer=checkpoints)
    with pytest.raises(Invalid, match="checkpoint does not match"):
        fit(image_spec("mlp", hidden=[16]), TrainConfig(epochs=2), digits, n=100, checkpointer=checkpoints)

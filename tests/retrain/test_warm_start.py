"""The trainer's warm-start seam: fine-tuning continues from given weights and keeps the normalisation
statistics they hold, instead of recomputing them from the (few, skewed) rows it fine-tunes on."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits

from modelplane.models.frameworks import default_spec
from modelplane.models.torch_zoo import build_torch_model, standardizer
from modelplane.training.config import TrainConfig
from modelplane.training.torch_trainer import fit_torch


def test_a_warm_start_keeps_the_weights_normalisation_and_starts_where_they_are() -> None:
    x, y = load_digits(return_X_y=True)
    x, y = x.astype(np.float32), y.astype(np.int64)
    spec = default_spec(
        "mlp", task="classification", input_shape=[64], num_outputs=10, overrides={"hidden": [32]}
    )
    train, val = (x[:1200], y[:1200]), (x[1200:1500], y[1200:1500])
    first = fit_torch(build_torch_model(spec), spec, TrainConfig(epochs=6), train, val)
    weights = {k: v.clone() for k, v in first.model.state_dict().items()}

    few = (x[1500:1560] * 2.0, y[1500:1560])  # a small batch of new rows with other statistics
    tuned = fit_torch(
        build_torch_model(spec, seed=1),
        spec,
        TrainConfig(epochs=1, lr=1e-4),
        few,
        val,
        initial_weights=weights,
    )
    norm, source = standardizer(tuned.model), standardizer(first.model)
    assert torch.equal(norm.mean, source.mean) and torch.equal(norm.std, source.std)
    assert tuned.history[0]["val_accuracy"] >= first.history[-1]["val_accuracy"] - 0.05

    cold = fit_torch(
        build_torch_model(spec, seed=1), spec, TrainConfig(epochs=1, lr=1e-4), few, val
    )
    assert not torch.equal(standardizer(cold.model).mean, source.mean)
    assert cold.history[0]["val_accuracy"] < tuned.history[0]["val_accuracy"] - 0.3

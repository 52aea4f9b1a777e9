"""Pruning: unstructured sparsity reported as it is, structured pruning that really shrinks the network."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from modelplane.compression.prune import make_permanent, mask_smallest, shrink, sparsity
from modelplane.errors import Invalid
from modelplane.models.frameworks import default_spec
from modelplane.models.torch_zoo import build_torch_model
from modelplane.registry.loading import load_native, load_runtime
from tests.compression.conftest import Zoo

ROWS = np.random.default_rng(1).uniform(0, 16, (7, 64)).astype(np.float32)


def _layer(model: nn.Module, index: int) -> nn.Module:
    return list(model.get_submodule("body").children())[index]


def _silence(layer: nn.Module, units: list[int]) -> None:
    """Zero a layer's parameters for `units`; a unit with no weights, bias (or BN gamma/beta) outputs 0."""
    assert isinstance(layer, nn.Linear | nn.BatchNorm2d)
    with torch.no_grad():
        layer.weight[units] = 0
        layer.bias[units] = 0


def _outputs(model: torch.nn.Module) -> np.ndarray:
    with torch.no_grad():
        return model.eval()(torch.from_numpy(ROWS)).numpy()


def test_shrinking_dead_mlp_units_keeps_the_function() -> None:
    spec = default_spec(
        "mlp", task="classification", input_shape=[64], num_outputs=10, overrides={"hidden": [10, 6]}
    )
    model = build_torch_model(spec, seed=3)
    _silence(_layer(model, 1), [0, 2, 4, 6, 8])  # relu(0) = 0: removing these units is exact
    _silence(_layer(model, 4), [1, 3, 5])
    smaller, smaller_spec = shrink(model, spec, 0.5)
    assert smaller_spec.model_dump()["hidden"] == [5, 3]
    np.testing.assert_allclose(_outputs(smaller), _outputs(model), atol=1e-5)


def test_shrinking_cnn_channels_uses_batch_norm_scales() -> None:
    spec = default_spec(
        "cnn",
        task="classification",
        input_shape=[64],
        num_outputs=10,
        image_shape=[1, 8, 8],
        overrides={"channels": [4, 6], "dense": [8], "dropout": 0.0},
    )
    model = build_torch_model(spec, seed=5)
    for index in (2, 6):  # non-trivial running statistics, so that only gamma and beta silence a channel
        norm = _layer(model, index)
        assert isinstance(norm, nn.BatchNorm2d) and norm.running_mean is not None
        norm.running_mean.uniform_(-1, 1)
    _silence(_layer(model, 2), [1, 3])  # a channel whose batch norm has gamma = beta = 0 is silent
    _silence(_layer(model, 6), [0, 2, 5])
    _silence(_layer(model, 10), [1, 3, 5, 7])
    smaller, smaller_spec = shrink(model, spec, 0.5)
    shape = smaller_spec.model_dump()
    assert (shape["channels"], shape["dense"]) == ([2, 3], [4])
    np.testing.assert_allclose(_outputs(smaller), _outputs(model), atol=1e-5)
    assert sparsity(smaller)["parameters"] < sparsity(model)["parameters"] / 2


def test_global_magnitude_masks_reach_the_amount() -> None:
    spec = default_spec("gru", task="classification", input_shape=[64], num_outputs=10, image_shape=[1, 8, 8])
    model = build_torch_model(spec)
    make_permanent(mask_smallest(model, 0.7))
    counts = sparsity(model)
    assert counts["sparsity"] == pytest.approx(0.7, abs=1e-3)
    assert counts["nonzero_parameters"] < counts["parameters"] * 0.4


def test_unstructured_prune_is_a_sparse_servable_version(zoo: Zoo) -> None:
    store = zoo.local.store
    result = zoo.local.compress(zoo.mlp, prune=0.5, finetune_epochs=1)
    version = result.version
    made = version.params["compression"]
    assert version.parent == zoo.mlp and version.framework == "torch" and version.spec["hidden"] == [32]
    assert made["structured"] is False and made["sparsity"] == pytest.approx(0.5, abs=1e-3)
    assert "dense" in made["storage"] and version.params["train"]["epochs"] == 1
    weights = load_native(store, version).body[1].weight
    assert 0.3 < float((weights == 0).float().mean()) < 0.8  # global threshold: per-layer shares differ
    assert version.metrics["epochs_run"] == 1 and "accuracy" in version.metrics["test"]
    assert load_runtime(store, version).predict(ROWS)["label"].shape == (7,)
    parent, child = result.report.versions
    assert child.parameters == parent.parameters and child.nonzero_parameters < parent.parameters * 0.6


def test_structured_prune_rebuilds_smaller_layers(zoo: Zoo) -> None:
    store = zoo.local.store
    result = zoo.local.compress(zoo.cnn, prune=0.5, structured=True, finetune_epochs=1)
    version = result.version
    assert version.parent == zoo.cnn and version.spec["channels"] == [2, 4] and version.spec["dense"] == [8]
    assert version.params["compression"]["layer_sizes"] == {"before": [4, 8, 16, 10], "after": [2, 4, 8, 10]}
    assert load_runtime(store, version).predict(ROWS)["probabilities"].shape == (7, 10)
    parent, child = result.report.versions
    assert child.parameters < parent.parameters / 2 and child.file_bytes < parent.file_bytes


def test_prune_refusals(zoo: Zoo) -> None:
    with pytest.raises(Invalid, match="between 0 and 1"):
        zoo.local.compress(zoo.mlp, prune=1.0)
    with pytest.raises(Invalid, match="scikit-learn random_forest model; pruning needs a torch model"):
        zoo.local.compress(zoo.forest, prune=0.5)
    with pytest.raises(Invalid, match="--finetune-epochs must be at least 0"):
        zoo.local.compress(zoo.mlp, prune=0.5, finetune_epochs=-1)

"""TrainConfig validation and device resolution."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from modelplane.errors import Invalid
from modelplane.models.frameworks import parse_spec
from modelplane.training.config import TrainConfig, check_config_for_spec, parse_train_config, resolve_device


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"epochs": 0}, "epochs"),
        ({"lr": 0}, "lr"),
        ({"batch_size": 0}, "batch_size"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"lr_gamma": 1.5}, "lr_gamma"),
        ({"early_stopping_patience": 0}, "early_stopping_patience"),
        ({"augment": {"shift": -1}}, "augment.shift"),
        ({"augment": {"blur": 1}}, "augment.blur"),
        ({"epoch": 3}, "epoch"),
    ],
)
def test_bad_values_name_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(Invalid, match=rf"invalid training config: field '{field}'"):
        parse_train_config(data)


def test_monitor_must_be_a_metric() -> None:
    with pytest.raises(Invalid, match=r"field 'monitor'.*val_accuracy"):
        parse_train_config({"monitor": "accuracy"})
    assert TrainConfig(monitor="val_accuracy").monitor_mode == "max"
    assert TrainConfig(monitor="val_mae").monitor_mode == "min"
    assert TrainConfig().monitor_mode == "min"


def test_config_checks_against_the_spec() -> None:
    regression = parse_spec({"kind": "mlp", "task": "regression", "input_shape": [8, 8], "num_outputs": 1})
    with pytest.raises(Invalid, match=r"field 'loss'.*use mse"):
        check_config_for_spec(TrainConfig(loss="cross_entropy"), regression)
    with pytest.raises(Invalid, match=r"field 'monitor'.*val_mse"):
        check_config_for_spec(TrainConfig(monitor="val_accuracy"), regression)
    check_config_for_spec(TrainConfig(augment={"shift": 1}, loss="mse"), regression)


def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(Invalid, match="no CUDA GPU"):
            resolve_device("cuda")

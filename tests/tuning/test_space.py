"""Search spaces and budgets: parsed, checked and sampled without training anything."""

from __future__ import annotations

import optuna
import pytest

from modelplane.errors import Invalid
from modelplane.local import Local
from modelplane.models.frameworks import model_kinds
from modelplane.tuning.config import parse_duration, parse_tune_config
from modelplane.tuning.plan import make_plan
from modelplane.tuning.space import known_fields


def test_durations() -> None:
    assert parse_duration("90s") == 90 and parse_duration("10m") == 600 and parse_duration("1h30m") == 5400
    assert parse_duration("45") == 45 and parse_duration(2.5) == 2.5
    for bad in ("10x", "m", "1h 30m", ""):
        with pytest.raises(Invalid, match="not a duration"):
            parse_duration(bad)


def test_known_fields_follow_the_model_and_trainer() -> None:
    mlp = known_fields("mlp")
    assert mlp["hidden"] == "list" and mlp["lr"] == "float" and mlp["batch_size"] == "int"
    assert mlp["optimizer"] == "choice" and "input_shape" not in mlp and "epochs" not in mlp
    assert known_fields("cnn")["channels"] == "list" and known_fields("cnn")["kernel_size"] == "int"
    assert known_fields("svm")["gamma"] == "float" and "lr" not in known_fields("svm")


def test_every_default_space_is_valid(platform: Local) -> None:
    views = {
        "cnn": {"image_shape": [1, 2, 2]},
        "lstm": {"sequence_shape": [4, 1]},
        "gru": {"sequence_shape": [4, 1]},
    }
    for kind in model_kinds():
        config = parse_tune_config({"data": "iris", "model": kind, "trials": 1, "spec": views.get(kind, {})})
        plan = make_plan(platform.store, config, name=f"check-{kind}", by="")
        assert plan.space.params and plan.config.data == "iris@1"


def test_architecture_is_sampled_layer_by_layer(platform: Local) -> None:
    space = {
        "hidden": {"layers": [1, 3], "width": [8, 64], "log": True},
        "lr": {"low": 1e-3, "high": 1e-1, "log": True},
        "activation": "gelu",
    }
    config = parse_tune_config({"data": "iris", "model": "mlp", "trials": 1, "space": space})
    plan = make_plan(platform.store, config, name="arch", by="")
    trial = optuna.trial.FixedTrial({"hidden_layers": 2, "hidden_0": 48, "hidden_1": 9, "lr": 0.01})
    spec, train = plan.space.sample(trial)  # type: ignore[arg-type]
    assert spec == {"hidden": [48, 9], "activation": "gelu"} and train == {"lr": 0.01}
    run = plan.run_config(spec, train)
    assert run.train.lr == 0.01 and run.train.monitor == "val_accuracy" and run.spec["hidden"] == [48, 9]
    assert plan.space.to_dict()["activation"] == {"type": "fixed", "value": "gelu"}

"""The CLI's progress bars: drawn on stderr from what training and tuning report through the platform's
callbacks, only when asked, and only once the work has started."""

from __future__ import annotations

import pytest
from sklearn.datasets import load_digits

from modelplane.cli.progress import EpochBar, TrialBar
from modelplane.models.frameworks import default_spec
from modelplane.models.torch_zoo import build_torch_model
from modelplane.training.config import TrainConfig
from modelplane.training.torch_trainer import fit_torch
from modelplane.tuning.views import StudyProgress


def test_the_trainer_reports_and_the_bar_draws_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    x, y = load_digits(return_X_y=True)
    x, y = x.astype("float32"), y.astype("int64")
    spec = default_spec("mlp", task="classification", input_shape=[64], num_outputs=10, image_shape=[1, 8, 8])
    train, val = (x[:100], y[:100]), (x[100:300], y[100:300])
    epochs: list[float] = []
    model = build_torch_model(spec)
    fit_torch(model, spec, TrainConfig(epochs=1), train, val, on_epoch=lambda m: epochs.append(m["epoch"]))
    assert capsys.readouterr() == ("", "") and epochs == [1]  # the trainer itself never prints
    with EpochBar("train", total=2, quiet=False) as bar:
        fit_torch(build_torch_model(spec), spec, TrainConfig(epochs=2), train, val, on_epoch=bar.epoch)
    out, err = capsys.readouterr()
    assert out == "" and "2/2" in err and "val_accuracy" in err


def test_a_quiet_bar_draws_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with TrialBar("tune", total=4, quiet=True) as bar:
        bar.trial(StudyProgress(1, 4))
    assert capsys.readouterr() == ("", "")


def test_trial_bar_shows_the_best_value_and_the_failures(capsys: pytest.CaptureFixture[str]) -> None:
    with TrialBar("tune digits-mlp-1", total=4, quiet=False) as bar:
        bar.trial(StudyProgress(0, 4, "accuracy"))
        bar.trial(StudyProgress(3, 4, "accuracy", 0.95123, 2, pruned=1, failed=1))
    out, err = capsys.readouterr()
    assert out == "" and "tune digits-mlp-1" in err and "3/4" in err
    assert "best accuracy 0.9512 (trial 2)  pruned 1 failed 1" in err


def test_a_server_study_shows_its_trial_count_only(capsys: pytest.CaptureFixture[str]) -> None:
    with TrialBar("tune", total=4, quiet=False) as bar:
        bar.trial(StudyProgress(2, 4))
    err = capsys.readouterr().err
    assert "2/4" in err and "pruned" not in err

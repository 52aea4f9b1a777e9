"""`modelplane tune`, `tune show`, `tune list` as a user runs them, and every bad input up front."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from modelplane.errors import Conflict
from modelplane.jobs.tune import submit_tune
from modelplane.local import Local
from tests.cli_helpers import run_cli


def test_architecture_search_prunes_and_registers_the_best_trial(
    platform: Local, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    space = {
        "hidden": {"layers": [1, 2], "width": [4, 16], "log": True},
        "lr": [1.0e-5, 0.05],  # one rate cannot learn in 4 epochs, the other learns in 1
        "activation": "tanh",
    }
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(space))
    args = ["--data", "iris", "--model", "mlp", "--trials", "8", "--epochs", "4", "--sampler", "random"]
    result = run_cli(
        capsys, "tune", *args, "--space", str(tmp_path / "space.yaml"), "--name", "arch", "--json"
    )
    assert result.code == 0, result.err
    study = result.json()
    assert study["name"] == "arch" and study["trials_done"] == 8 and study["model_version"] == "iris-mlp@1"

    trials = study["trials"]
    pruned = [t for t in trials if t["state"] == "pruned"]
    assert pruned, "the median pruner should stop the trials that cannot learn"
    assert all(t["params"]["lr"] == 1.0e-5 and t["epochs"] < 4 and t["value"] is None for t in pruned)
    assert all(t["epochs"] == 4 for t in trials if t["state"] == "complete")
    for trial in pruned:
        run = platform.runs.get(trial["run_id"])
        assert run.status == "pruned" and "pruned after epoch" in (run.error or "")
        assert len(run.history) == trial["epochs"] and run.model_version is None

    best = next(t for t in trials if t["number"] == study["best_trial"])
    assert best["value"] == max(t["value"] or 0.0 for t in trials) and best["params"]["lr"] == 0.05
    widths = [best["params"][f"hidden_{i}"] for i in range(best["params"]["hidden_layers"])]
    version = platform.models.version("iris-mlp@1")
    assert version.spec["hidden"] == widths and version.spec["activation"] == "tanh"
    assert version.run_id == best["run_id"] and len(platform.models.get("iris-mlp").versions) == 1
    assert version.params["tuning"] == {
        "study": "arch",
        "trial": best["number"],
        "metric": "accuracy",
        "value": best["value"],
        "direction": "maximize",
        "params": best["params"],
    }
    # The registered weights are the trial's own (its checkpoint), so they score what the trial scored.
    assert version.metrics["validation"]["accuracy"] == pytest.approx(best["value"])
    runs = platform.runs.list()
    assert len(runs) == 8 and [r.model_version for r in runs if r.model_version] == ["iris-mlp@1"]

    shown = run_cli(capsys, "tune", "show", "arch")
    assert shown.code == 0 and "pruned" in shown.out and "hidden_layers" in shown.out
    assert "parameter importance" in shown.out
    listed = run_cli(capsys, "tune", "list")
    assert listed.code == 0 and "arch" in listed.out and "8/8" in listed.out
    again = run_cli(capsys, "tune", "--resume", "arch")
    assert again.code == 2 and "is finished" in again.err
    with pytest.raises(Conflict, match="study 'arch' is finished"):  # as a job: refused before queueing
        submit_tune(platform.store, {"resume": "arch"}, by="ann")
    assert platform.jobs.list(kind="tune") == []


BAD_SPACES = [
    ({"lr_rate": {"low": 0.1, "high": 1.0}}, "unknown hyper-parameter 'lr_rate' for mlp; known: activation"),
    ({"lr": {"low": 0.1, "high": 0.01, "log": True}}, "'lr': empty range: low 0.1 > high 0.01; swap them"),
    ({"lr": {"type": "gaussian", "mu": 0.1}}, "'lr' has distribution type 'gaussian'; use one of float"),
    ({"dropout": {"low": 0.1, "high": 1.5}}, "'dropout' can reach 1.5, which is refused"),
    ({"lr": {"layers": [1, 2], "width": [8, 16]}}, "'lr' is not a list of layer sizes"),
    ({"optimizer": []}, "'optimizer': no choices to pick from"),
]
BAD_ARGUMENTS = [
    (["--model", "mlp", "--trials", "0"], "a budget of 0 trials runs nothing"),
    (["--model", "mlp", "--timeout", "0s"], "leaves no time to search"),
    (["--model", "mlp", "--timeout", "10 minutes"], "is not a duration"),
    (["--model", "mlp"], "say how long to search"),
    (["--model", "resnet", "--trials", "2"], "unknown model kind 'resnet'"),
    (["--model", "mlp", "--trials", "2", "--metric", "r2"], "metric 'r2' is for regression"),
    (["--model", "mlp", "--trials", "2", "--data", "nope"], "dataset 'nope' does not exist"),
]


def test_bad_input_fails_up_front_with_one_line(
    platform: Local, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Each case: exit code 2, one line naming the problem, no traceback, nothing created."""
    path = tmp_path / "space.yaml"
    cases = [(["--model", "mlp", "--trials", "2", "--space", str(path)], m, s) for s, m in BAD_SPACES]
    for args, message, space in [*cases, *((a, m, None) for a, m in BAD_ARGUMENTS)]:
        path.write_text(yaml.safe_dump(space))
        result = run_cli(capsys, "tune", "--data", "iris", *args)
        assert result.code == 2 and message in result.err, (args, space, result.err)
        assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err, result.err
    assert platform.studies.list() == [] and platform.runs.list() == []


def test_unknown_study_and_resume_with_other_settings(
    platform: Local, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(capsys, "tune", "show", "nope").code == 2
    result = run_cli(capsys, "tune", "--resume", "nope", "--model", "mlp")
    assert result.code == 2 and "drop --model" in result.err

"""`modelplane retrain-policy` in-process: set, show, list and delete; every bad input refused before
anything is stored, with exit code 2 and one line that names the problem and the fix."""

from __future__ import annotations

import pytest

from modelplane.data.ingest import add_dataset
from modelplane.retrain.policies import list_policies
from modelplane.store import Store
from tests.cli_helpers import run_cli
from tests.retrain.conftest import MODEL, World


def test_set_show_list_delete(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["retrain-policy", "set", MODEL, "--data", "digits", "--gate", "accuracy>=production-0.002"]
    done = run_cli(capsys, *args, "--canary", "10:15m", "--replay", "0.3", "--epochs", "2")
    assert done.code == 0, done.err
    assert "warm start from production's weights" in done.out and "10:15m" in done.out
    shown = run_cli(capsys, "retrain-policy", "show", MODEL, "--json").json()
    assert {k: shown[k] for k in ("dataset", "on", "gate", "canary", "replay", "epochs", "enabled")} == {
        "dataset": "digits",
        "on": "new-data",
        "gate": "accuracy>=production-0.002",
        "canary": "10:15m",
        "replay": 0.3,
        "epochs": 2,
        "enabled": True,
    }
    schedule = run_cli(capsys, *args[:5], "--on", "schedule:0 3 * * *", "--json").json()
    assert schedule["on"] == "schedule:0 3 * * *" and schedule["next_fire_at"].endswith("03:00:00+00:00")
    assert schedule["gate"] == "accuracy>=production" and schedule["canary"] == "none"
    listed = run_cli(capsys, "retrain-policy", "list", "--json").json()
    assert [p["model"] for p in listed] == [MODEL]
    assert "retrain policies" in run_cli(capsys, "retrain-policy", "list").out
    assert run_cli(capsys, "retrain-policy", "delete", MODEL).code == 0
    gone = run_cli(capsys, "retrain-policy", "show", MODEL)
    assert gone.code == 2 and "has no retrain policy; set one with" in gone.err


BAD = [
    (["--gate", "accuracy"], "gate 'accuracy' does not parse at 'accuracy'; write METRIC OP THRESHOLD"),
    (["--gate", "accuracy>>0.9"], "'>0.9' is not a number; write METRIC OP THRESHOLD"),
    (["--gate", "accuracy>=production-x"], "'x' is not a number"),
    (
        ["--gate", "mse<=production*1.05"],
        "unknown metric 'mse' for a classification model; use one of accuracy",
    ),
    (["--on", "schedule:61 * * * *"], "minute 61 is outside 0-59"),
    (["--on", "schedule:0 3 * *"], "it has 4 field(s), not 5"),
    (["--on", "schedule:0 0 31 2 *"], "no date ever matches it"),
    (
        ["--on", "hourly"],
        "unknown trigger 'hourly'; use new-data, manual, drift, accuracy-drop or schedule:CRON",
    ),
    (["--canary", "10"], "canary '10' is not PERCENT:DURATION"),
    (["--canary", "150:5m"], "must be between 0 and 100"),
    (["--canary", "10:5y"], "canary '10:5y' is not PERCENT:DURATION"),
    (["--replay", "1.5"], "--replay 1.5 is not a fraction"),
    (["--epochs", "0"], "--epochs 0 must be at least 1"),
]


@pytest.mark.parametrize(("extra", "message"), BAD)
def test_bad_settings_are_refused_in_one_line(
    world: World, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    refused = run_cli(capsys, "retrain-policy", "set", MODEL, "--data", "digits", *extra)
    assert refused.code == 2 and refused.err.count("\n") == 1, refused.err
    assert refused.err.startswith("error: ") and message in refused.err
    assert list_policies(world.store) == []


def test_policies_that_could_never_work_are_refused(
    world: World, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    def refused(*args: str) -> str:
        found = run_cli(capsys, "retrain-policy", "set", *args)
        assert found.code == 2 and found.err.count("\n") == 1, found.err
        return found.err

    add_dataset(store, "iris", "builtin:iris")
    assert "has feature shape [4] but digits-mlp@production (digits-mlp@1) takes inputs of shape [64]" in (
        refused(MODEL, "--data", "iris")
    )
    assert "dataset 'nope' does not exist" in refused(MODEL, "--data", "nope")
    assert "model 'nope' does not exist" in refused("nope", "--data", "digits")
    assert run_cli(capsys, "models", "unalias", MODEL, "production").code == 0
    assert "has no production version, so a retrain has nothing to start from or beat" in (
        refused(MODEL, "--data", "digits")
    )
    no_policy = run_cli(capsys, "retrain", MODEL)
    assert no_policy.code == 2 and "has no production version" in no_policy.err
    assert list_policies(store) == []


def test_a_canary_needs_a_deployment(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "deployments", "undeploy", MODEL).code == 0
    refused = run_cli(capsys, "retrain-policy", "set", MODEL, "--data", "digits", "--canary", "10:1m")
    assert refused.code == 2 and refused.err.count("\n") == 1
    assert "no deployment serves digits-mlp@production, so a canary would have nowhere to run" in refused.err
    assert run_cli(capsys, "retrain-policy", "set", MODEL, "--data", "digits").code == 0
    no_policy = run_cli(capsys, "retrain", "other")
    assert no_policy.code == 2 and "model 'other' does not exist" in no_policy.err

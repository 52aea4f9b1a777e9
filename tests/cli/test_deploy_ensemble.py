"""`modelplane deploy NAME --ensemble A@1,B@1`: the argument names an ensemble (as the README writes it),
`--name` still works, and every ambiguous form is refused with the command that fixes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelplane.local import Local
from modelplane.registry.registry import NewVersion, register
from tests.cli_helpers import run_cli

CLASSES = ["a", "b", "c"]


@pytest.fixture
def members(tmp_path: Path) -> str:
    """Two registered classifiers of one input shape and class list (nothing loads them here)."""
    local = Local()
    try:
        refs = []
        for name in ("small", "wide"):
            weights = tmp_path / f"{name}.weights"
            weights.write_bytes(name.encode())
            spec = {"kind": "mlp", "input_shape": [4], "num_outputs": 3}
            new = NewVersion(name, "classification", "torch", "mlp", spec, weights, {}, {}, classes=CLASSES)
            refs.append(register(local.store, new).ref)
    finally:
        local.close()
    return ",".join(refs)


def test_the_argument_names_an_ensemble(capsys: pytest.CaptureFixture[str], members: str) -> None:
    saved = run_cli(capsys, "deploy", "pair", "--ensemble", members, "--combine", "vote", "--json")
    assert saved.code == 0, saved.err
    assert saved.json()["name"] == "pair"
    assert saved.json()["spec"]["ensemble"] == {"members": members.split(","), "combine": "vote"}

    rule = ["--combine", "weighted", "--weights", "1,3"]
    weighted = run_cli(capsys, "deploy", "--ensemble", members, "--name", "blend", *rule)
    assert weighted.code == 0, weighted.err
    assert "deployed blend" in weighted.out
    assert run_cli(capsys, "deploy", "mean", "--ensemble", members, "--name", "mean").code == 0
    shown = run_cli(capsys, "deployments", "show", "mean", "--json").json()
    assert shown["spec"]["ensemble"]["combine"] == "mean"  # the default rule
    listed = {d["name"] for d in run_cli(capsys, "deployments", "list", "--json").json()}
    assert listed == {"pair", "blend", "mean"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["small@1", "--ensemble", "{m}"], "'small@1' is a model ref; list every member in --ensemble"),
        (["one", "--name", "two", "--ensemble", "{m}"], "named twice ('one' and --name 'two')"),
        (["--ensemble", "{m}"], "an ensemble needs a deployment name: modelplane deploy NAME --ensemble"),
        (["small@1", "--combine", "vote"], "--combine and --weights are rules of an ensemble"),
        (["small@1", "--weights", "0.5,0.5"], "--combine and --weights are rules of an ensemble"),
        (["pair", "--ensemble", "{m}", "--combine", "weighted", "--weights", "1,x"], "not comma-separated"),
        ([], "say what to deploy"),
    ],
)
def test_ambiguous_forms_are_refused(
    capsys: pytest.CaptureFixture[str], members: str, args: list[str], message: str
) -> None:
    refused = run_cli(capsys, "deploy", *(a.format(m=members) for a in args))
    assert refused.code == 2 and message in refused.err, refused.err
    assert "Traceback" not in refused.err
    assert run_cli(capsys, "deployments", "list", "--json").json() == []

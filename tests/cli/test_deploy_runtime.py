"""`modelplane deploy --runtime NAME`: saved, listed and shown; a runtime that cannot serve the version is
refused with the fix. The versions are registered directly: no runtime loads them here."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelplane.local import Local
from modelplane.registry.registry import NewVersion, register
from tests.cli_helpers import run_cli


def _register(local: Local, tmp_path: Path, name: str, framework: str) -> str:
    weights = tmp_path / f"{name}.weights"
    weights.write_bytes(name.encode())
    spec = {"kind": "mlp", "input_shape": [4], "num_outputs": 3}
    new = NewVersion(name, "classification", framework, "mlp", spec, weights, {}, {}, classes=["a", "b", "c"])
    return register(local.store, new).ref


def test_deploy_with_a_runtime_lists_and_shows_it(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    local = Local()
    try:
        torch_ref = _register(local, tmp_path, "small", "torch")
        sklearn_ref = _register(local, tmp_path, "forest", "sklearn")
    finally:
        local.close()
    saved = run_cli(capsys, "deploy", torch_ref, "--runtime", "native", "--json")
    assert saved.code == 0 and saved.json()["spec"]["runtime"] == "native"
    assert run_cli(capsys, "deploy", sklearn_ref, "--name", "plain").code == 0
    listed = {
        d["name"]: d["spec"].get("runtime") for d in run_cli(capsys, "deployments", "list", "--json").json()
    }
    assert listed == {"small": "native", "plain": None}
    table = run_cli(capsys, "deployments", "list").out
    assert "native" in table and "default" in table
    shown = run_cli(capsys, "deployments", "show", "small").out
    assert "version 1 on native" in shown
    assert "version 1 on native" in run_cli(capsys, "deployments", "show", "plain").out  # no ONNX graph

    refused = run_cli(capsys, "deploy", sklearn_ref, "--runtime", "torchscript")
    assert refused.code == 2
    assert "forest@1 is a sklearn model" in refused.err and "use runtime native" in refused.err
    unknown = run_cli(capsys, "deploy", torch_ref, "--runtime", "tensorrt")
    assert unknown.code == 2 and "unknown runtime 'tensorrt'" in unknown.err
    assert "--runtime" in run_cli(capsys, "deploy", "--help").out

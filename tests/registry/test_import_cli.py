"""`modelplane models import` as a user sees it: the version, its lineage, one-line refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.registry.import_files import linear_onnx


def test_import_prints_the_version_and_show_gives_its_lineage(
    isolated_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = linear_onnx(tmp_path / "clf.onnx")
    result = run_cli(capsys, "models", "import", "clf", "--from", str(path), "--classes", "a,b,c")
    assert result.code == 0, result.err
    assert "imported clf@1" in result.out and "imported onnx clf.onnx sha256" in result.out
    assert "softmax" in result.out  # the note that probabilities are the softmax of its scores

    shown = run_cli(capsys, "models", "show", "clf@1", "--json").json()
    assert shown["params"]["imported"]["file"] == "clf.onnx" and shown["classes"] == ["a", "b", "c"]
    view = run_cli(capsys, "models", "show", "clf@1")
    assert "imported onnx clf.onnx sha256" in view.out


def test_a_refused_import_is_one_line_without_traceback(
    isolated_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = linear_onnx(tmp_path / "fixed.onnx", shape=[1, 4])
    result = run_cli(capsys, "models", "import", "m", "--from", str(path))
    assert result.code != 0
    assert "fixes the batch size to 1" in result.err and "Traceback" not in result.err
    assert run_cli(capsys, "models", "list", "--json").json() == []

"""`modelplane predict` matches a file's columns to the model's by name: swapped columns give the same
answers, a missing column is refused naming it, the target and other extra columns are ignored with a note
(refused with --strict). Regression test for predictions that once followed column positions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.cli_helpers import Result, run_cli


def _customers(path: Path, rows: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, rows)
    spend = rng.normal(50, 20, rows).round(2)
    calls = rng.integers(0, 9, rows)
    churned = np.where(calls * 8 - tenure + rng.normal(0, 5, rows) > 0, "yes", "no")
    lines = ["tenure,spend,calls,churned"]
    lines += [f"{t},{s},{c},{y}" for t, s, c, y in zip(tenure, spend, calls, churned, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _labels(result: Result) -> list[str]:
    assert result.code == 0, result.err
    cells = [[cell.strip() for cell in line.split("│")[1:-1]] for line in result.out.splitlines()]
    return [row[1] for row in cells if row and row[0].isdigit()]


@pytest.fixture
def deployed(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> str:
    source = _customers(tmp_path / "churn.csv", 300, seed=1)
    assert run_cli(capsys, "data", "add", "churn", "--from", str(source), "--target", "churned").code == 0
    assert run_cli(capsys, "train", "--data", "churn", "--model", "logreg").code == 0
    assert run_cli(capsys, "deploy", "churn-logreg@1").code == 0
    return "churn-logreg"


def _write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_columns_are_matched_by_name(
    capsys: pytest.CaptureFixture[str], deployed: str, tmp_path: Path
) -> None:
    rows = ["70,20.0,0", "2,80.5,8", "36,50.0,4"]
    ordered = _write(tmp_path / "ordered.csv", "tenure,spend,calls", rows)
    swapped = _write(
        tmp_path / "swapped.csv", "calls,tenure,spend", [",".join(np.roll(r.split(","), 1)) for r in rows]
    )
    expected = _labels(run_cli(capsys, "predict", deployed, "--input", str(ordered)))
    assert expected[:2] == ["no", "yes"]
    assert _labels(run_cli(capsys, "predict", deployed, "--input", str(swapped))) == expected
    as_json = run_cli(capsys, "predict", deployed, "--input", str(swapped), "--json").json()
    ordered_json = run_cli(capsys, "predict", deployed, "--input", str(ordered), "--json").json()
    assert np.allclose(as_json["probabilities"], ordered_json["probabilities"])


def test_a_missing_column_is_refused_by_name(
    capsys: pytest.CaptureFixture[str], deployed: str, tmp_path: Path
) -> None:
    renamed = _write(tmp_path / "xyz.csv", "x,y,z", ["70,20.0,0"])
    refused = run_cli(capsys, "predict", deployed, "--input", str(renamed))
    assert refused.code == 2
    assert "lacks 3 of the 3 columns the model was trained on: tenure, spend, calls" in refused.err
    partial = _write(tmp_path / "partial.csv", "tenure,calls", ["70,0"])
    refused = run_cli(capsys, "predict", deployed, "--input", str(partial))
    assert refused.code == 2 and "lacks 1 of the 3 columns" in refused.err and "spend" in refused.err
    assert "--drop" not in refused.err


def test_the_target_and_other_extra_columns_are_ignored_with_a_note(
    capsys: pytest.CaptureFixture[str], deployed: str, tmp_path: Path
) -> None:
    with_target = _write(tmp_path / "labelled.csv", "churned,calls,tenure,spend,notes", ["no,0,70,20.0,hi"])
    answered = run_cli(capsys, "predict", deployed, "--input", str(with_target))
    assert _labels(answered) == ["no"]
    assert "note: ignored 2 column(s) of labelled.csv the model does not read: churned, notes" in answered.err
    strict = run_cli(capsys, "predict", deployed, "--input", str(with_target), "--strict")
    assert strict.code == 2 and "churned, notes" in strict.err and "--strict" in strict.err

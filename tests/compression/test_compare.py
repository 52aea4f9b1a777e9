"""compare: sizes, parameters, latency and metrics relative to the first version, in Python and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import TypeAdapter

from modelplane.compression.views import Comparison
from tests.cli_helpers import run_cli
from tests.compression.conftest import Zoo


def test_compare_measures_relative_to_the_first(zoo: Zoo) -> None:
    comparison = zoo.local.compare([zoo.mlp, zoo.cnn, zoo.forest])
    mlp, cnn, forest = comparison.versions
    assert comparison.baseline == zoo.mlp and [v.ref for v in comparison.versions] == [
        zoo.mlp,
        zoo.cnn,
        zoo.forest,
    ]
    assert mlp.parameters == 64 * 32 + 32 + 32 * 10 + 10 and mlp.nonzero_parameters == mlp.parameters
    assert forest.parameters is None and forest.framework == "sklearn"
    assert set(mlp.latency_ms) == {"batch1", "batch64"} and all(v > 0 for v in cnn.latency_ms.values())
    assert mlp.method == "trained" and "accuracy" in mlp.metrics and "per_class" not in mlp.metrics

    data = comparison.to_dict()
    first, second, third = (v["relative"] for v in data["versions"])
    assert first["file_bytes"] == 1.0 and first["metrics"]["accuracy"] == 0.0
    assert second["parameters"] == pytest.approx(cnn.parameters / mlp.parameters)
    assert second["latency"]["batch64"] == pytest.approx(
        cnn.latency_ms["batch64"] / mlp.latency_ms["batch64"]
    )
    assert third["parameters"] is None
    assert second["metrics"]["accuracy"] == pytest.approx(cnn.metrics["accuracy"] - mlp.metrics["accuracy"])
    # The HTTP client rebuilds views from to_dict() JSON.
    assert TypeAdapter(Comparison).validate_python(data) == comparison


def test_cli_compress_and_compare(zoo: Zoo, cli_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    made = run_cli(capsys, "compress", zoo.mlp, "--quantize", "int8", "--json")
    assert made.code == 0, made.err
    version = made.json()["version"]
    assert version["parent"] == zoo.mlp and version["framework"] == "onnx"
    ref = f"{version['model']}@{version['version']}"
    shown = run_cli(capsys, "compare", zoo.mlp, ref)
    assert shown.code == 0, shown.err
    assert "serving file" in shown.out and "(×" in shown.out and "test accuracy" in shown.out
    listed = run_cli(capsys, "compare", zoo.mlp, ref, "--json")
    assert [v["method"] for v in listed.json()["versions"]] == ["trained", "int8 dynamic"]


def _one_line_error(result_err: str) -> str:
    lines = [line for line in result_err.strip().splitlines() if line]
    assert len(lines) == 1, result_err
    return lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--quantize", "int8"], "scikit-learn random_forest model; int8 quantisation applies"),
        (["--quantize", "int8", "--mode", "weights"], "scikit-learn random_forest model; int8 quantisation"),
        (["--prune", "1.5"], "prune amount must be between 0 and 1"),
        (["--prune", "0"], "prune amount must be between 0 and 1"),
    ],
)
def test_cli_refuses_bad_input_in_one_line(
    zoo: Zoo, cli_home: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    target = zoo.forest if args[0] == "--quantize" else zoo.mlp
    result = run_cli(capsys, "compress", target, *args)
    assert result.code == 2 and message in _one_line_error(result.err)


def test_cli_refuses_wrong_student_and_unknown_ref(
    zoo: Zoo, cli_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "student.yaml"
    spec.write_text("kind: mlp\ninput_shape: [4]\nhidden: [8]\n")
    result = run_cli(capsys, "compress", zoo.cnn, "--distill", str(spec))
    assert result.code == 2 and "input_shape to [4] but the teacher" in _one_line_error(result.err)
    missing = run_cli(capsys, "compress", "digits-cnn@99", "--quantize", "int8")
    assert missing.code == 2 and "has no version 99" in _one_line_error(missing.err)
    nobody = run_cli(capsys, "compare", "nobody@1")
    assert nobody.code == 2 and "model 'nobody' does not exist" in _one_line_error(nobody.err)

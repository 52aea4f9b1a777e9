"""The issue's CLI flow end to end in a temp MODELPLANE_HOME, plus the bad-input promises."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
import yaml

from tests.cli_helpers import Result, run_cli


def _churn_csv(path: Path, rows: int = 300, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, rows)
    charges = rng.normal(70, 20, rows).round(2)
    tickets = rng.poisson(1.5, rows)
    churned = np.where(tickets * 10 + (72 - tenure) > 60, "yes", "no")
    lines = ["tenure,monthly_charges,support_tickets,churned"]
    lines += [f"{t},{c},{s},{y}" for t, c, s, y in zip(tenure, charges, tickets, churned, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def ok(result: Result) -> Result:
    assert result.code == 0, result.err
    return result


def test_cli_lifecycle(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = ok(run_cli(capsys, "data", "add", "digits", "--from", "builtin:digits")).out
    assert "digits@1" in out and "1,797 rows" in out
    assert "unchanged" in ok(run_cli(capsys, "data", "add", "digits", "--from", "builtin:digits")).out

    churn = _churn_csv(tmp_path / "churn.csv")
    ok(run_cli(capsys, "data", "add", "churn", "--from", str(churn), "--target", "churned"))
    listed = ok(run_cli(capsys, "data", "list", "--json")).json()
    assert {d["name"]: d["latest"]["num_rows"] for d in listed} == {"churn": 300, "digits": 1797}
    shown = ok(run_cli(capsys, "data", "show", "churn")).out
    assert "class balance" in shown and "yes" in shown

    cnn = ok(
        run_cli(
            capsys,
            "train",
            "--data",
            "digits",
            "--model",
            "cnn",
            "--epochs",
            "2",
            "--optimizer",
            "adam",
            "--lr",
            "1e-3",
            "--quiet",
            "--json",
        )
    ).json()
    assert cnn["status"] == "succeeded" and cnn["model_version"] == "digits-cnn@1"
    assert [e["epoch"] for e in cnn["history"]] == [1.0, 2.0]
    forest = ok(
        run_cli(capsys, "train", "--data", "churn", "--model", "random_forest", "--quiet", "--json")
    ).json()
    assert forest["model_version"] == "churn-random_forest@1"

    config = tmp_path / "run.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data": "digits",
                "model": "mlp",
                "name": "digits-small",
                "spec": {"hidden": [32]},
                "train": {"epochs": 2, "batch_size": 32},
            }
        )
    )
    declared = ok(run_cli(capsys, "train", "--config", str(config), "--quiet", "--json")).json()
    assert declared["model_version"] == "digits-small@1" and declared["spec"]["hidden"] == [32]

    runs = ok(run_cli(capsys, "runs", "list", "--json")).json()
    assert len(runs) == 3 and {r["status"] for r in runs} == {"succeeded"}
    shown = ok(run_cli(capsys, "runs", "show", cnn["id"])).out
    assert "val_loss" in shown and "digits@1" in shown

    models = ok(run_cli(capsys, "models", "list", "--json")).json()
    assert {m["name"] for m in models} == {"digits-cnn", "churn-random_forest", "digits-small"}
    ok(run_cli(capsys, "models", "alias", "digits-cnn@1", "production"))
    detail = ok(run_cli(capsys, "models", "show", "digits-cnn", "--json")).json()
    assert detail["aliases"] == {"production": 1}
    version = detail["versions"][0]
    assert version["dataset"] == "digits@1" and version["run_id"] == cnn["id"] and version["onnx_sha"]

    report = ok(
        run_cli(capsys, "eval", "digits-cnn@production", "--data", "digits", "--split", "test", "--json")
    ).json()
    assert report["metrics"]["accuracy"] == pytest.approx(cnn["metrics"]["test"]["accuracy"], abs=1e-9)
    assert "accuracy" in ok(run_cli(capsys, "eval", "digits-cnn@production", "--data", "digits")).out

    out_dir = tmp_path / "out"
    ok(run_cli(capsys, "export", "digits-cnn@1", "--format", "onnx", "-o", str(out_dir)))
    ok(run_cli(capsys, "export", "digits-cnn@1", "--format", "torchscript", "-o", str(out_dir)))
    card = json.loads((out_dir / "digits-cnn-v1.json").read_text())
    assert card["input"]["shape"] == [-1, 64]
    x = np.random.default_rng(0).uniform(0, 16, (5, 64)).astype(np.float32)
    session = ort.InferenceSession(str(out_dir / "digits-cnn-v1.onnx"))
    label, probabilities = session.run(["label", "probabilities"], {"input": x})
    scripted = torch.jit.load(str(out_dir / "digits-cnn-v1.pt"))
    assert np.array_equal(np.asarray(scripted(torch.from_numpy(x))["label"]), label)
    assert probabilities.shape == (5, 10)


BAD_INPUTS = [
    (["data", "add", "x", "--from", "missing.csv"], "missing.csv"),
    (["data", "add", "x", "--from", "{tmp}/table.xlsx"], "unknown format"),
    (["data", "add", "x", "--from", "{tmp}/good.csv", "--target", "nope"], "nope"),
    (["data", "add", "x", "--from", "{tmp}/mixed.csv", "--target", "y", "--chunk-rows", "20"], "mixes"),
    (["data", "add", "x", "--from", "{tmp}/nans.csv", "--target", "y"], "--drop-na"),
    (["data", "add", "tiny", "--from", "{tmp}/tiny.csv", "--target", "y"], None),
    (["train", "--data", "tiny", "--model", "mlp"], "at least 10"),
    (["train", "--data", "good", "--model", "transformer"], "unknown model"),
    (["train", "--data", "good", "--model", "mlp", "--set", "bogus=1"], "bogus"),
    (["train", "--data", "good", "--model", "mlp", "--optimizer", "adamax"], "optimizer"),
    (["train", "--data", "nothing", "--model", "mlp"], "does not exist"),
    (["models", "alias", "good-logreg@7", "production"], "no version 7"),
    (["models", "delete", "good-logreg@1", "--yes"], "alias production"),
    (["eval", "good-logreg@1", "--data", "good", "--split", "holdout"], "unknown split"),
    (["export", "good-logreg@1", "--format", "pickle"], "unknown export format"),
]


def test_bad_input_gets_one_line_exit_2_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    good = tmp_path / "good.csv"
    good.write_text("a,b,y\n" + "".join(f"{i},{i % 7},{i % 2}\n" for i in range(60)))
    (tmp_path / "table.xlsx").write_bytes(b"PK")
    (tmp_path / "mixed.csv").write_text("a,y\n" + "".join(f"{i},{i % 2}\n" for i in range(50)) + "oops,1\n")
    (tmp_path / "nans.csv").write_text("a,y\n1,0\n2,\n3,0\n")
    (tmp_path / "tiny.csv").write_text("a,y\n1,0\n2,1\n3,0\n4,1\n")
    ok(run_cli(capsys, "data", "add", "good", "--from", str(good), "--target", "y"))
    ok(run_cli(capsys, "train", "--data", "good", "--model", "logreg", "--quiet"))
    ok(run_cli(capsys, "models", "alias", "good-logreg@1", "production"))
    before = (
        run_cli(capsys, "data", "list", "--json").json(),
        run_cli(capsys, "models", "list", "--json").json(),
    )

    for args, expected in BAD_INPUTS:
        result = run_cli(capsys, *(a.replace("{tmp}", str(tmp_path)) for a in args))
        if expected is None:  # a setup step of a later case
            assert result.code == 0, result.err
            continue
        assert result.code == 2, (args, result.err)
        assert expected in result.err, (args, result.err)
        assert "Traceback" not in result.err and result.err.startswith("error:"), result.err

    after = (
        run_cli(capsys, "data", "list", "--json").json(),
        run_cli(capsys, "models", "list", "--json").json(),
    )
    assert [d["name"] for d in after[0]] == ["good", "tiny"]
    assert after[0][0] == before[0][0] and after[1] == before[1]

"""Every verb group of `modelplane` against a temporary MODELPLANE_HOME, in-process, as a user types them.

tests/e2e/test_cli_flow.py walks the lifecycle once (data add, train, runs, models, eval, export) and its bad
inputs; this file covers the other verbs and options (the `--json` and table forms, serving, jobs, keys,
usage, audit, tuning, retrain policies) and the typed errors of each group. A small world (iris, a
scikit-learn logreg in production and deployed, a one-epoch mlp) is trained once for the module and copied
into each test's home, so every test starts from the same state in milliseconds.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from modelplane.cli.context import platform
from modelplane.config import get_settings
from tests.cli.verbs import modelplane, ok

LOGREG, MLP = "iris-logreg", "iris-mlp"
ROWS = [(5.1, 3.5, 1.4, 0.2), (6.7, 3.0, 5.2, 2.3), (5.9, 3.0, 4.2, 1.5)]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("cli-world") / "home"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MODELPLANE_HOME", str(home))
        env.delenv("MODELPLANE_DATABASE_URL", raising=False)
        env.delenv("MODELPLANE_ARTIFACT_ROOT", raising=False)
        env.delenv("MODELPLANE_URL", raising=False)
        get_settings.cache_clear()
        platform.cache_clear()
        try:
            ok("data", "add", "iris", "--from", "builtin:iris")
            ok("train", "--data", "iris", "--model", "logreg", "--epochs", "1", "--quiet")
            ok("train", "--data", "iris", "--model", "mlp", "--epochs", "1", "--set", "hidden=[8]", "--quiet")
            ok("models", "alias", f"{LOGREG}@1", "production")
            ok("deploy", f"{LOGREG}@production")
        finally:
            platform().close()  # every write is on disk before the home is copied
            get_settings.cache_clear()
            platform.cache_clear()
    yield home


@pytest.fixture
def home(world: Path, isolated_home: Path) -> Path:
    shutil.copytree(world, isolated_home)
    return isolated_home


@pytest.fixture
def rows_csv(tmp_path: Path) -> Path:
    path = tmp_path / "rows.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        # builtin:iris names its columns as scikit-learn does; rows to predict are matched by those names
        writer.writerow(["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"])
        writer.writerows(ROWS)
    return path


def test_data_verbs(home: Path) -> None:
    listed = ok("data", "list", "--json").json()
    assert [(d["name"], d["latest"]["num_rows"]) for d in listed] == [("iris", 150)]
    assert "iris" in ok("data", "list").out
    shown = ok("data", "show", "iris@1", "--json").json()
    assert shown["version"]["classes"] == ["setosa", "versicolor", "virginica"]
    assert [v["version"] for v in shown["versions"]] == [1]
    assert "class balance" in ok("data", "show", "iris").out
    again = ok("data", "add", "iris", "--from", "builtin:iris", "--json").json()
    assert again["version"] == 1 and again["num_rows"] == 150  # the same content is the same version


def test_train_then_runs_and_models_verbs(home: Path) -> None:
    done = ok("train", "--data", "iris", "--model", "logreg", "--name", "iris-again", "--epochs", "1")
    assert "registered iris-again@1" in done.out and "accuracy" in done.out

    runs = ok("runs", "list", "--json").json()
    assert len(runs) == 3 and {r["status"] for r in runs} == {"succeeded"}
    mine = ok("runs", "list", "--model", MLP, "--json").json()
    assert [r["model_version"] for r in mine] == [f"{MLP}@1"]
    assert ok("runs", "show", mine[0]["id"][:8], "--json").json()["id"] == mine[0]["id"]
    assert "iris@1" in ok("runs", "show", mine[0]["id"]).out
    assert "runs" in ok("runs", "list", "--limit", "1").out

    assert {m["name"] for m in ok("models", "list", "--json").json()} == {LOGREG, MLP, "iris-again"}
    assert "models" in ok("models", "list").out
    version = ok("models", "show", f"{LOGREG}@production", "--json").json()
    assert (version["model"], version["version"], version["aliases"]) == (LOGREG, 1, ["production"])
    assert "framework" in ok("models", "show", f"{LOGREG}@1").out
    ok("models", "alias", f"{MLP}@1", "staging")
    assert ok("models", "show", MLP, "--json").json()["aliases"] == {"staging": 1}
    assert "alias history" in ok("models", "show", MLP).out
    assert "removed alias" in ok("models", "unalias", MLP, "staging").out
    assert "deleted iris-again@1" in ok("models", "delete", "iris-again@1", "--yes").out
    assert ok("models", "show", "iris-again", "--json").json()["versions"] == []


def test_eval_export_compress_compare(home: Path, tmp_path: Path) -> None:
    report = ok("eval", f"{LOGREG}@production", "--data", "iris", "--split", "all", "--json").json()
    native = ok("eval", f"{LOGREG}@1", "--data", "iris", "--runtime", "native", "--json").json()
    assert 0.8 <= report["metrics"]["accuracy"] <= 1 and 0.8 <= native["metrics"]["accuracy"] <= 1

    exported = ok("export", f"{LOGREG}@1", "--format", "onnx", "-o", tmp_path / "out").out
    assert (tmp_path / "out" / f"{LOGREG}-v1.onnx").stat().st_size > 0 and "wrote" in exported

    compressed = ok("compress", f"{MLP}@1", "--quantize", "int8", "--mode", "weights", "--quiet", "--json")
    made = compressed.json()
    assert (made["version"]["version"], made["version"]["parent"]) == (2, f"{MLP}@1")
    assert [v["ref"] for v in made["report"]["versions"]] == [f"{MLP}@1", f"{MLP}@2"]
    compared = ok("compare", f"{MLP}@1", f"{MLP}@2", "--json").json()
    assert [v["ref"] for v in compared["versions"]] == [f"{MLP}@1", f"{MLP}@2"]


def test_tune_list_and_show(home: Path) -> None:
    args = ["--data", "iris", "--model", "logreg", "--trials", "2", "--name", "quick", "--quiet", "--json"]
    study = ok("tune", *args).json()
    assert study["name"] == "quick" and study["trials_done"] == 2
    assert study["model_version"] == f"{LOGREG}@2"  # the best trial, registered beside the first version
    assert [s["name"] for s in ok("tune", "list", "--json").json()] == ["quick"]
    assert len(ok("tune", "show", "quick", "--json").json()["trials"]) == 2
    assert "quick" in ok("tune", "show", "quick").out and "studies" in ok("tune", "list").out


def test_deploy_predict_batch_and_jobs(home: Path, rows_csv: Path, tmp_path: Path) -> None:
    deployed = ok("deploy", f"{MLP}@1", "--name", "flowers", "--max-batch-size", "8", "--json").json()
    assert deployed["name"] == "flowers"
    assert {d["name"] for d in ok("deployments", "list", "--json").json()} == {LOGREG, "flowers"}
    assert ok("deployments", "show", "flowers", "--json").json()["spec"]["model"] == f"{MLP}@1"
    assert "deployments" in ok("deployments", "list").out
    assert "undeployed flowers" in ok("deployments", "undeploy", "flowers").out
    assert [d["name"] for d in ok("deployments", "list", "--json").json()] == [LOGREG]

    predicted = ok("predict", LOGREG, "--input", rows_csv, "--json").json()
    assert predicted["label"][:2] == ["setosa", "virginica"] and len(predicted["probabilities"]) == len(ROWS)
    shown = ok("predict", LOGREG, "--input", rows_csv).out
    assert "setosa" in shown and "virginica" in shown  # the table names the classes

    output = tmp_path / "predictions.csv"
    done = ok("batch", LOGREG, "--input", rows_csv, "--output", output, "--quiet")
    assert done.out.startswith(f"wrote {len(ROWS)} predictions to")  # then the path, which may wrap
    with output.open() as fh:
        assert [row["label"] for row in csv.DictReader(fh)][:2] == ["setosa", "virginica"]
    jobs = ok("jobs", "list", "--kind", "batch", "--json").json()
    assert [(j["kind"], j["state"]) for j in jobs] == [("batch", "succeeded")]
    assert "succeeded" in ok("jobs", "show", jobs[0]["id"][:8]).out
    assert ok("jobs", "logs", jobs[0]["id"]).out
    assert "jobs" in ok("jobs", "list").out


def test_keys_usage_and_audit(home: Path) -> None:
    created = ok("keys", "create", "--role", "developer", "--name", "ci", "--json").json()
    key_id = created["id"]
    assert created["role"] == "developer" and created["key"].startswith(f"mp_{key_id}_")
    assert [k["id"] for k in ok("keys", "list", "--json").json()] == [key_id]
    assert f"revoked key {key_id}" in ok("keys", "revoke", key_id).out
    assert ok("keys", "list", "--no-revoked", "--json").json() == []

    today = date.today().isoformat()
    assert ok("usage", "report", "--since", "2020-01-01", "--until", today, "--json").json() == []
    assert ok("usage", "report", "--since", "2020-01-01", "--csv").out.startswith("key_id,")

    entries = ok("audit", "log", "--limit", "3", "--json").json()
    assert entries[0]["action"] == "key.revoked"  # the newest first
    verified = ok("audit", "verify", "--json").json()
    assert verified["ok"] is True and verified["head"]["seq"] == entries[0]["seq"]
    assert "chain intact" in ok("audit", "verify").out
    assert ok("audit", "head").out.strip() == f"seq {verified['head']['seq']} hash {verified['head']['hash']}"


def test_retrain_policy_verbs(home: Path) -> None:
    policy = ok("retrain-policy", "set", LOGREG, "--data", "iris", "--on", "manual", "--json").json()
    assert policy["on"] == "manual" and "from scratch" in policy["method"]
    assert [p["model"] for p in ok("retrain-policy", "list", "--json").json()] == [LOGREG]
    assert ok("retrain-policy", "show", LOGREG, "--json").json()["dataset"] == "iris"
    assert "retrain policies" in ok("retrain-policy", "list").out
    assert "deleted the retrain policy" in ok("retrain-policy", "delete", LOGREG).out
    assert ok("retrain-policy", "list", "--json").json() == []


BAD_INPUTS = [
    (["models", "show", "nope"], "model 'nope' does not exist"),
    (["models", "show", f"{LOGREG}@staging"], "has no alias 'staging'"),
    (["models", "unalias", LOGREG, "staging"], "has no alias 'staging'"),
    (["runs", "show", "nope"], "run 'nope' not found"),
    (["compress", f"{LOGREG}@1", "--quantize", "int8"], "int8 quantisation applies to neural networks"),
    (["compare", f"{LOGREG}@1", f"{LOGREG}@9"], "no version 9"),
    (["deploy", "nope@1"], "model 'nope' does not exist"),
    (["deployments", "show", "nope"], "deployment 'nope' does not exist"),
    (["predict", "nope", "--input", "{rows}"], "deployment 'nope' does not exist"),
    (["batch", LOGREG, "--input", "{tmp}/missing.csv", "--output", "{tmp}/out.csv"], "missing.csv"),
    (["jobs", "show", "nope"], "job 'nope' not found"),
    (["tune", "show", "nope"], "study 'nope' not found"),
    (["tune", "--data", "iris", "--model", "logreg", "--trials", "0"], "trials"),
    (["keys", "create", "--role", "wizard", "--name", "x"], "unknown role 'wizard'"),
    (["usage", "report", "--since", "yesterday"], "is not a date; write YYYY-MM-DD"),
    (["retrain-policy", "show", LOGREG], "has no retrain policy"),
    (["retrain", LOGREG], "has no retrain policy"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUTS, ids=[" ".join(a[:2]) for a, _ in BAD_INPUTS])
def test_bad_input_is_one_line_and_exit_2(
    home: Path, rows_csv: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    refused = modelplane(*(a.replace("{rows}", str(rows_csv)).replace("{tmp}", str(tmp_path)) for a in args))
    assert refused.code == 2, (args, refused.err)
    assert refused.err.startswith("error: ") and refused.err.count("\n") == 1, refused.err
    assert message in refused.err and "Traceback" not in refused.err


def test_a_missing_argument_is_a_usage_error(home: Path) -> None:
    refused = modelplane("data", "add", "iris")
    assert refused.code == 2 and "give one source: --from FILE" in refused.err
    assert "Traceback" not in refused.err
    assert json.loads(ok("data", "list", "--json").out)[0]["latest"]["version"] == 1

"""An unchanged MLflow script against `modelplane up`: the `mlflow` client (MLFLOW_TRACKING_URI and
MLFLOW_TRACKING_TOKEN set to a modelplane developer key) logs params, per-step metrics, an artifact and a
scikit-learn model (skops), registers it, and modelplane shows the run and serves the version."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelplane.client import Client
from tests.e2e.test_platform import Up

pytest.importorskip("mlflow")

SCRIPT = textwrap.dedent(
    """
    import sys
    import mlflow
    import mlflow.sklearn
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    mlflow.set_tracking_uri(sys.argv[1])
    mlflow.set_experiment("iris-own-code")
    X, y = load_iris(return_X_y=True)
    with mlflow.start_run(run_name="own-loop") as run:
        mlflow.log_param("C", 0.5)
        mlflow.log_params({"max_iter": 200, "solver": "lbfgs"})
        for step, loss in enumerate([0.9, 0.5, 0.3]):
            mlflow.log_metric("loss", loss, step=step)
        mlflow.set_tag("team", "ml")
        with open(sys.argv[2], "w") as fh:
            fh.write("trained on iris")
        mlflow.log_artifact(sys.argv[2])
        model = LogisticRegression(C=0.5, max_iter=200).fit(X, y)
        mlflow.log_metric("accuracy", model.score(X, y))
        mlflow.sklearn.log_model(
            model, name="model", serialization_format="skops", registered_model_name=sys.argv[3]
        )
        print("RUN", run.info.run_id)
    client = mlflow.MlflowClient()
    assert client.get_model_version(sys.argv[3], "1").run_id == run.info.run_id
    client.set_registered_model_alias(sys.argv[3], "production", "1")
    loaded = mlflow.sklearn.load_model(f"models:/{sys.argv[3]}@production")
    print("LOADED", [int(label) for label in loaded.predict(X[[0, 100]])])
    print("HISTORY", [m.value for m in client.get_metric_history(run.info.run_id, "loss")])
    print("AGAIN", mlflow.register_model(f"runs:/{run.info.run_id}/model", sys.argv[3]).version)
    wanted = "metrics.loss < 0.5 AND params.C = '0.5'"
    found = mlflow.search_runs(filter_string=wanted, order_by=["metrics.loss"])
    print("FOUND", list(found.run_id))
    """
)


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    server = Up(tmp_path_factory.mktemp("mlflow-home"))
    yield server
    server.stop()


def _developer_key(up: Up) -> str:
    admin = Client(up.url, api_key=up.admin_key)
    try:
        return admin.keys.create(role="developer", name="mlflow-script").key
    finally:
        admin.close()


def _mlflow(script: str, *args: str, token: str | None, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    if token is not None:
        env["MLFLOW_TRACKING_TOKEN"] = token
    env["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    path = cwd / "train.py"
    path.write_text(script)
    return subprocess.run(
        [sys.executable, str(path), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_an_mlflow_script_tracks_and_registers_a_model_modelplane_serves(up: Up, tmp_path: Path) -> None:
    key = _developer_key(up)
    done = _mlflow(SCRIPT, up.url, str(tmp_path / "notes.txt"), "iris-mlflow", token=key, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    run_id = next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("RUN "))
    assert "LOADED [0, 2]" in done.stdout and "HISTORY [0.9, 0.5, 0.3]" in done.stdout
    assert f"FOUND ['{run_id}']" in done.stdout
    assert "AGAIN 2" in done.stdout  # registered from runs:/RUN/model: its logged model, found by name

    platform = Client(up.url, api_key=key)
    try:
        run = platform.runs.get(run_id)
        assert (run.kind, run.status, run.name, run.experiment) == (
            "tracked",
            "succeeded",
            "own-loop",
            "iris-own-code",
        )
        assert run.params == {"C": "0.5", "max_iter": "200", "solver": "lbfgs"}
        assert run.tags["team"] == "ml"
        assert [p["loss"] for p in run.history if "loss" in p] == [0.9, 0.5, 0.3]
        assert run.metrics["accuracy"] > 0.9
        assert "notes.txt" in run.artifacts
        assert run.model_version == "iris-mlflow@1"

        version = platform.models.version("iris-mlflow@production")
        assert (version.ref, version.run_id) == ("iris-mlflow@1", run_id)
        platform.deploy({"model": "iris-mlflow@1"}, name="iris-mlflow")
        rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
        out = platform.predict("iris-mlflow", rows)
        assert len(out["label"]) == 2
    finally:
        platform.close()


AUTOLOG = textwrap.dedent(
    """
    import sys
    import mlflow
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    mlflow.set_tracking_uri(sys.argv[1])
    mlflow.set_experiment("autolog")
    mlflow.sklearn.autolog(serialization_format="skops")
    X, y = load_iris(return_X_y=True)
    with mlflow.start_run() as run:
        LogisticRegression(max_iter=300).fit(X, y)
    print("RUN", run.info.run_id)
    """
)


def test_sklearn_autolog_records_a_complete_run(up: Up, tmp_path: Path) -> None:
    key = _developer_key(up)
    done = _mlflow(AUTOLOG, up.url, token=key, cwd=tmp_path)
    assert done.returncode == 0 and "unexpected error" not in done.stderr, done.stderr[-4000:]
    run_id = next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("RUN "))
    platform = Client(up.url, api_key=key)
    try:
        run = platform.runs.get(run_id)
    finally:
        platform.close()
    assert (run.status, run.experiment, run.params["max_iter"]) == ("succeeded", "autolog", "300")
    assert run.metrics["training_accuracy_score"] > 0.9
    assert run.dataset.startswith("dataset#")  # the training data autolog logged as the run's input
    assert any(path.endswith("/MLmodel") for path in run.artifacts)


@pytest.mark.parametrize("token", [None, "mp_000000000000_" + "x" * 43])
def test_mlflow_without_a_valid_key_is_refused(up: Up, tmp_path: Path, token: str | None) -> None:
    script = "import sys, mlflow\nmlflow.set_tracking_uri(sys.argv[1])\nmlflow.set_experiment('nope')\n"
    done = _mlflow(script, up.url, token=token, cwd=tmp_path)
    assert done.returncode != 0
    assert "401" in done.stderr or "UNAUTHENTICATED" in done.stderr, done.stderr[-2000:]

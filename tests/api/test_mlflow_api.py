"""The MLflow tracking API as its client calls it (paths, JSON shapes, error codes), and tracked runs over
/api/v1 through the modelplane Client: both behind the same API keys."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.routing import APIRoute

from modelplane.api.mlflow import MOUNTS
from modelplane.client import Client
from tests.api.conftest import Control
from tests.net import serve
from tests.training.tracking_helpers import skops_classifier

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


def _experiment(control: Control, name: str = "exp") -> str:
    answer = control.http.post(
        f"{API}/experiments/create", json={"name": name}, headers=control.headers("developer")
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["experiment_id"])


def _run(control: Control, experiment_id: str) -> dict:
    answer = control.http.post(
        f"{API}/runs/create",
        json={"experiment_id": experiment_id, "run_name": "r1", "start_time": 1_700_000_000_000, "tags": []},
        headers=control.headers("developer"),
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["run"]


def test_keys_are_needed_and_errors_come_in_mlflow_shape(control: Control) -> None:
    missing = control.http.get(f"{API}/experiments/get-by-name", params={"experiment_name": "exp"})
    assert missing.status_code == 401 and missing.json()["error_code"] == "UNAUTHENTICATED"
    consumer = control.http.post(
        f"{API}/experiments/create", json={"name": "x"}, headers=control.headers("consumer")
    )
    assert consumer.status_code == 403 and consumer.json()["error_code"] == "PERMISSION_DENIED"
    unknown = control.http.get(
        f"{API}/experiments/get-by-name",
        params={"experiment_name": "exp"},
        headers=control.headers("developer"),
    )
    assert unknown.status_code == 404 and unknown.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    _experiment(control)
    again = control.http.post(
        f"{API}/experiments/create", json={"name": "exp"}, headers=control.headers("developer")
    )
    assert again.status_code == 400 and again.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"


def test_a_run_logs_batches_keeps_every_point_and_ends(control: Control) -> None:
    h = control.headers("developer")
    run = _run(control, _experiment(control))
    run_id = run["info"]["run_id"]
    assert run["info"]["artifact_uri"].startswith("mlflow-artifacts:/")
    batch = {
        "run_id": run_id,
        "metrics": [
            {"key": "loss", "value": 0.5, "step": 1, "timestamp": 2},
            {"key": "loss", "value": 0.9, "step": 0, "timestamp": 1},
            {"key": "loss", "value": 0.4, "step": 1, "timestamp": 3},
        ],
        "params": [{"key": "lr", "value": "0.1"}],
        "tags": [{"key": "team", "value": "ml"}],
    }
    assert control.http.post(f"{API}/runs/log-batch", json=batch, headers=h).status_code == 200
    again = {"run_id": run_id, "metrics": batch["metrics"][1:2]}  # as log_model re-logs step 0: kept once
    assert control.http.post(f"{API}/runs/log-batch", json=again, headers=h).status_code == 200
    changed = {"run_id": run_id, "key": "lr", "value": "0.2"}
    refused = control.http.post(f"{API}/runs/log-parameter", json=changed, headers=h)
    assert refused.status_code == 400 and "cannot change" in refused.json()["message"]
    history = control.http.get(
        f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": "loss"}, headers=h
    ).json()["metrics"]
    assert [(m["step"], m["value"]) for m in history] == [(0, 0.9), (1, 0.5), (1, 0.4)]
    ended = control.http.post(
        f"{API}/runs/update",
        json={"run_id": run_id, "status": "FINISHED", "end_time": 1_700_000_005_000},
        headers=h,
    )
    assert ended.json()["run_info"]["status"] == "FINISHED"
    dataset = {"name": "iris", "digest": "2bf3ace3aa", "source_type": "code", "source": "{}"}
    for _ in range(2):  # recorded once
        inputs = {"run_id": run_id, "datasets": [{"dataset": dataset, "tags": []}]}
        assert control.http.post(f"{API}/runs/log-inputs", json=inputs, headers=h).status_code == 200
    got = control.http.get(f"{API}/runs/get", params={"run_id": run_id}, headers=h).json()["run"]
    assert got["inputs"]["dataset_inputs"] == [{"dataset": dataset, "tags": []}]
    assert got["data"]["params"] == [{"key": "lr", "value": "0.1"}]
    assert {"key": "team", "value": "ml"} in got["data"]["tags"]
    shown = control.http.get(f"/api/v1/runs/{run_id}", headers=h).json()
    assert (shown["status"], shown["duration_s"], shown["metrics"]) == ("succeeded", 5.0, {"loss": 0.4})
    assert shown["dataset"] == "iris#2bf3ace3"
    assert shown["history"] == [{"step": 0.0, "loss": 0.9}, {"step": 1.0, "loss": 0.4}]
    found = control.http.post(
        f"{API}/runs/search", json={"experiment_ids": [got["info"]["experiment_id"]]}, headers=h
    )
    assert [r["info"]["run_id"] for r in found.json()["runs"]] == [run_id]


def test_artifacts_go_through_the_proxy_and_stay_inside_their_run(control: Control) -> None:
    h = control.headers("developer")
    run = _run(control, _experiment(control))
    root = run["info"]["artifact_uri"].removeprefix("mlflow-artifacts:/")
    assert control.http.put(f"{ARTIFACTS}/{root}/plots/a.txt", content=b"abc", headers=h).status_code == 200
    assert control.http.get(f"{ARTIFACTS}/{root}/plots/a.txt", headers=h).content == b"abc"
    listed = control.http.get(ARTIFACTS, params={"path": root}, headers=h).json()["files"]
    assert listed == [{"path": "plots", "is_dir": True}]
    listed = control.http.get(ARTIFACTS, params={"path": f"{root}/plots"}, headers=h).json()["files"]
    assert listed == [{"path": "a.txt", "is_dir": False, "file_size": 3}]
    climb = control.http.put(f"{ARTIFACTS}/{root}/..%2F..%2F..%2Fx", content=b"x", headers=h)
    assert climb.status_code in (400, 404)
    stranger = control.http.put(f"{ARTIFACTS}/0/{'f' * 32}/artifacts/x", content=b"x", headers=h)
    assert stranger.status_code == 404 and stranger.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    missing = control.http.get(f"{ARTIFACTS}/{root}/nothing.txt", headers=h)
    assert missing.status_code == 404


def test_the_client_tracks_a_run_over_http(control: Control, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("n")
    with serve(control.app) as address:
        client = Client(f"http://{address}", api_key=control.keys["developer"])
        try:
            with client.runs.start("remote", experiment="e", params={"lr": 0.1}) as run:
                run.log_metric("loss", 0.7)
                run.log_metric("loss", 0.6)
                run.set_tag("k", "v")
                assert run.log_artifact(notes) == "notes.txt"
                version = run.register_model("remote-iris", skops_classifier(tmp_path))
            shown = client.runs.get(run.id)
        finally:
            client.close()
    assert (shown.status, shown.name, shown.experiment) == ("succeeded", "remote", "e")
    assert shown.history == [{"step": 0.0, "loss": 0.7}, {"step": 1.0, "loss": 0.6}]
    assert (shown.params, shown.tags) == ({"lr": "0.1"}, {"k": "v"})
    assert shown.artifacts == ["model/iris.skops", "notes.txt"]
    assert (version.ref, version.run_id, shown.model_version) == ("remote-iris@1", run.id, "remote-iris@1")


def _mlflow_routes() -> list[tuple[str, str]]:
    found = []
    for router, prefix in MOUNTS:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            path = re.sub(r"\{[^}]+\}", "x", prefix + route.path)
            found += [(method, path) for method in route.methods]
    return found


def test_every_mlflow_route_needs_a_key_and_a_role(control: Control) -> None:
    routes = _mlflow_routes()
    assert len(routes) >= 30
    for method, path in routes:
        missing = control.http.request(method, path)
        assert missing.status_code == 401 and missing.json()["error_code"] == "UNAUTHENTICATED", (
            method,
            path,
        )
        consumer = control.http.request(method, path, headers=control.headers("consumer"))
        assert consumer.status_code == 403, (method, path, consumer.text)


def test_logged_models_are_created_found_finalised_and_checked(control: Control) -> None:
    h = control.headers("developer")
    experiment_id = _experiment(control)
    run_id = _run(control, experiment_id)["info"]["run_id"]
    body = {"experiment_id": experiment_id, "name": "model", "source_run_id": run_id, "params": []}
    created = control.http.post(f"{API}/logged-models", json=body, headers=h).json()["model"]["info"]
    assert created["status"] == "LOGGED_MODEL_PENDING" and created["source_run_id"] == run_id
    model_id = created["model_id"]
    assert created["artifact_uri"] == f"mlflow-artifacts:/{experiment_id}/models/{model_id}/artifacts"
    search = {"experiment_ids": [experiment_id], "filter": f"name = 'model' AND source_run_id = '{run_id}'"}
    found = control.http.post(f"{API}/logged-models/search", json=search, headers=h).json()["models"]
    assert [m["info"]["model_id"] for m in found] == [model_id]
    search["filter"] = "name = 'other'"
    assert control.http.post(f"{API}/logged-models/search", json=search, headers=h).json()["models"] == []
    search["filter"] = "metrics.x > 1"
    refused = control.http.post(f"{API}/logged-models/search", json=search, headers=h)
    assert refused.status_code == 400 and "name = '...'" in refused.json()["message"]
    final = {"model_id": model_id, "status": "LOGGED_MODEL_READY"}
    ready = control.http.patch(f"{API}/logged-models/{model_id}", json=final, headers=h).json()["model"][
        "info"
    ]
    assert ready["status"] == "LOGGED_MODEL_READY"
    bad = control.http.patch(f"{API}/logged-models/{model_id}", json={"status": "DONE"}, headers=h)
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    outputs = {"run_id": run_id, "models": [{"model_id": model_id, "step": 0}]}
    assert control.http.post(f"{API}/runs/outputs", json=outputs, headers=h).status_code == 200
    got = control.http.get(f"{API}/runs/get", params={"run_id": run_id}, headers=h).json()["run"]
    assert got["outputs"]["model_outputs"] == [{"model_id": model_id, "step": 0}]
    unknown = control.http.get(f"{API}/logged-models/m-nope", headers=h)
    assert unknown.status_code == 404

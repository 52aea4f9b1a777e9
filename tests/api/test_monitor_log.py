"""GET /api/v1/deployments/{name}/predictions and the Client over it: JSON and Parquet, bounds, roles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelplane.client import Client
from modelplane.monitoring.log_writer import PredictionLog
from modelplane.registry.registry import NewVersion, register
from modelplane.serving.deployments import parse_spec, save_deployment
from tests.api.conftest import Control, control  # noqa: F401 (the fixture)
from tests.net import serve

CLASSES = ["a", "b", "c"]


def deployed(store: object, tmp_path: Path, name: str = "d1") -> None:
    weights = tmp_path / "w.weights"
    weights.write_bytes(b"w")
    spec = {"kind": "mlp", "input_shape": [2], "num_outputs": 3}
    version = register(
        store, NewVersion("m", "classification", "sklearn", "mlp", spec, weights, {}, {}, classes=CLASSES)
    )  # type: ignore[arg-type]
    save_deployment(store, parse_spec({"model": version.ref, "runtime": "native"}), name=name, by="test")  # type: ignore[arg-type]


def logged(home: Path, requests: int) -> None:
    log = PredictionLog(home)
    for i in range(requests):
        x = np.full((2, 2), i, np.float32)
        probabilities = np.tile(np.array([0.7, 0.2, 0.1], np.float32), (2, 1))
        outputs = {"label": np.array(["a", "a"], dtype=object), "probabilities": probabilities}
        log.submit("d1", "1", f"r{i}", "k", 1.0, 200, x, None, outputs, CLASSES)
    log.flush()
    log.close()


def test_predictions_read_as_json_and_parquet(control: Control, tmp_path: Path) -> None:  # noqa: F811
    deployed(control.store, tmp_path)
    logged(control.store.settings.home, 5)
    path = "/api/v1/deployments/d1/predictions"
    answer = control.http.get(path, params={"limit": 3}, headers=control.headers("developer"))
    assert answer.status_code == 200
    body = answer.json()
    assert body["classes"] == CLASSES
    assert [(r["request_id"], r["row"]) for r in body["rows"]] == [("r3", 1), ("r4", 0), ("r4", 1)]
    assert body["rows"][-1]["f:f0"] == 4.0 and body["rows"][-1]["label"] == "a"
    assert body["rows"][-1]["time"].endswith("+00:00")

    with serve(control.app) as address:
        client = Client(f"http://{address}", api_key=control.keys["developer"])
        try:
            table = client.predictions.read("d1", since="1h", limit=100)
            assert table.num_rows == 10 and table["request_id"][0].as_py() == "r0"
            assert table.schema.field("probabilities").type.list_size == 3
            assert client.predictions.read("d1", until="1h").num_rows == 0
        finally:
            client.close()


def test_bad_reads_are_400s_that_say_what_to_send(control: Control, tmp_path: Path) -> None:  # noqa: F811
    deployed(control.store, tmp_path)
    path = "/api/v1/deployments/d1/predictions"
    headers = control.headers("developer")
    since = control.http.get(path, params={"since": "yesterday"}, headers=headers)
    assert since.status_code == 400 and "e.g. 1h, 30m, 7d or 2026-05-01T12:00:00Z" in since.json()["error"]
    order = control.http.get(path, params={"since": "1h", "until": "2h"}, headers=headers)
    assert order.status_code == 400 and "must be after since" in order.json()["error"]
    big = control.http.get(path, params={"limit": 200_000}, headers=headers)
    assert big.status_code == 400 and "format=parquet" in big.json()["error"]
    assert control.http.get(path, params={"limit": 0}, headers=headers).status_code in (400, 422)
    empty = control.http.get(path, headers=headers)
    assert empty.status_code == 200 and empty.json()["rows"] == []
    missing = control.http.get("/api/v1/deployments/nope/predictions", headers=headers)
    assert missing.status_code == 404
    consumer = control.http.get(path, headers=control.headers("consumer"))
    assert consumer.status_code == 403


@pytest.mark.parametrize("fmt", ["json", "parquet"])
def test_a_deleted_deployments_log_stays_readable(control: Control, tmp_path: Path, fmt: str) -> None:  # noqa: F811
    logged(control.store.settings.home, 1)  # no deployment d1 defined any more, its log remains
    answer = control.http.get(
        "/api/v1/deployments/d1/predictions", params={"format": fmt}, headers=control.headers("developer")
    )
    assert answer.status_code == 200
    if fmt == "parquet":
        assert answer.headers["content-type"] == "application/vnd.apache.parquet"
        assert answer.content[:4] == b"PAR1"


def test_the_deploy_body_takes_the_log_settings(control: Control, tmp_path: Path) -> None:  # noqa: F811
    deployed(control.store, tmp_path, name="other")
    spec = {"model": "m@1", "runtime": "native", "monitoring": {"log_sample": 0.1, "retain_days": 7}}
    made = control.http.post("/api/v1/deployments", json={"spec": spec}, headers=control.headers("admin"))
    assert made.status_code == 201, made.text
    assert made.json()["spec"]["monitoring"]["log_sample"] == 0.1
    assert made.json()["spec"]["monitoring"]["retain_days"] == 7
    bad = {**spec, "monitoring": {"log_sample": 1.5}}
    refused = control.http.post("/api/v1/deployments", json={"spec": bad}, headers=control.headers("admin"))
    assert refused.status_code == 400 and "log_sample" in refused.json()["error"]

"""The serving hook of the prediction log: sampling, request ids, every output logged, failed requests,
and a full log queue that never touches the request (model manager + real store, no sockets)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np

from modelplane.local import Local
from modelplane.monitoring.log_files import read_log
from modelplane.monitoring.log_writer import PredictionLog
from modelplane.serving.accounting import RequestAccounting
from modelplane.serving.manager import ModelManager
from modelplane.serving.types import InferRequest
from tests.serving.managed import with_manager

ROWS = np.random.default_rng(1).uniform(0, 7, (3, 4)).astype(np.float32)
COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


def request(model: str, rows: np.ndarray = ROWS, **kwargs: Any) -> InferRequest:
    return InferRequest(model=model, version=None, inputs={"input": rows}, **kwargs)


def test_sampling_logs_all_half_or_none_of_the_requests(trained: Local, tmp_path: Path) -> None:
    for name, sample in (("all", 1.0), ("half", 0.5), ("none", 0.0)):
        trained.deploy({"model": "iris-mlp@1", "monitoring": {"log_sample": sample}}, name=name)
    log = PredictionLog(tmp_path).start()
    random.seed(3)

    async def scenario(manager: ModelManager) -> None:
        for name in ("all", "half", "none"):
            for _ in range(400):
                await manager.infer(request(name, ROWS[:1]))

    try:
        with_manager(trained, scenario, prediction_log=log)
        log.flush()
        assert read_log(tmp_path, "all").num_rows == 400
        assert 340 <= len(read_log(tmp_path, "half")["request_id"].unique()) * 2 <= 460
        assert read_log(tmp_path, "none").num_rows == 0 and not (tmp_path / "monitoring" / "none").exists()
    finally:
        log.close()
        for name in ("all", "half", "none"):
            trained.deployments.undeploy(name)


def test_logged_requests_get_an_id_and_every_output_is_logged(trained: Local, tmp_path: Path) -> None:
    trained.deploy({"model": "iris-mlp@1"}, name="iris")
    log = PredictionLog(tmp_path).start()
    answers = []

    async def scenario(manager: ModelManager) -> None:
        answers.append(await manager.infer(request("iris", outputs=["label"], key_id="key-1")))
        answers.append(await manager.infer(request("iris", id="mine")))

    try:
        with_manager(trained, scenario, prediction_log=log)
        log.flush()
        made, given = answers
        assert made.id is not None and made.id != "mine" and given.id == "mine"
        assert list(made.outputs) == ["label"]
        table = read_log(tmp_path, "iris")
        assert table["request_id"].to_pylist() == [made.id] * 3 + ["mine"] * 3
        assert table["row"].to_pylist() == [0, 1, 2] * 2
        assert table["key_id"].to_pylist() == ["key-1"] * 3 + [None] * 3
        assert table["label"].to_pylist()[:3] == made.outputs["label"].tolist()
        probabilities = np.array(table["probabilities"].to_pylist()[3:])
        np.testing.assert_allclose(probabilities, given.outputs["probabilities"], atol=1e-6)
        features = np.array([table[f"f:{c}"].to_pylist() for c in COLUMNS]).T
        np.testing.assert_allclose(features, np.vstack([ROWS, ROWS]))
        assert table["version"].unique().to_pylist() == ["1"]
        assert all(0 < ms < 10_000 for ms in table["latency_ms"].to_pylist())
    finally:
        log.close()
        trained.deployments.undeploy("iris")


def test_failed_requests_are_logged_with_their_status(trained: Local, tmp_path: Path) -> None:
    trained.deploy({"model": "iris-mlp@1"}, name="iris")
    trained.deploy({"model": "iris-mlp@1", "monitoring": {"log_sample": 0}}, name="quiet")
    log = PredictionLog(tmp_path).start()

    async def scenario(manager: ModelManager) -> None:
        rest = RequestAccounting("rest", metrics=None, gate=None, failures=manager.log_failure)
        grpc = RequestAccounting("grpc", metrics=None, gate=None, failures=manager.log_failure)
        rest.record(None, "iris", None, None, 503, 0.002, 0)
        grpc.record(None, "iris", "1", None, "INTERNAL", 0.004, 0)
        rest.record(None, "iris", None, None, 400, 0.001, 0)  # the caller's mistake: not a failure
        grpc.record(None, "iris", None, None, "CANCELLED", 0.001, 0)
        rest.record(None, "quiet", None, None, 500, 0.001, 0)  # logs nothing
        rest.record(None, "nope", None, None, 500, 0.001, 0)  # not served here

    try:
        with_manager(trained, scenario, prediction_log=log)
        log.flush()
        table = read_log(tmp_path, "iris")
        assert table["status"].to_pylist() == [503, 500]
        assert table["latency_ms"].to_pylist() == [2.0, 4.0]
        assert table["version"].to_pylist() == ["1", "1"]
        assert "label" not in table.schema.names or table["label"].null_count == 2
        assert read_log(tmp_path, "quiet").num_rows == 0 and read_log(tmp_path, "nope").num_rows == 0
    finally:
        log.close()
        trained.deployments.undeploy("iris")
        trained.deployments.undeploy("quiet")


def test_a_full_log_queue_drops_records_never_requests(trained: Local, tmp_path: Path) -> None:
    trained.deploy({"model": "iris-mlp@1"}, name="iris")
    log = PredictionLog(tmp_path, queue_rows=4)  # never started: the queue only fills
    answers = []

    async def scenario(manager: ModelManager) -> None:
        for _ in range(3):
            answers.append(await manager.infer(request("iris")))

    try:
        with_manager(trained, scenario, prediction_log=log)
        assert [len(a.outputs["label"]) for a in answers] == [3, 3, 3]
        assert log.dropped == {"iris": 6} and log.queued_rows == 3
    finally:
        trained.deployments.undeploy("iris")

"""`modelplane serve` as a user runs it: a real process on free ports, spoken to over HTTP and gRPC by
third-party KServe V2 clients (tritonclient), with deployments made by the CLI while it runs."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http

from modelplane.cli.context import platform
from modelplane.config import get_settings
from modelplane.local import Local
from modelplane.registry.loading import load_runtime
from tests.cli_helpers import run_cli
from tests.net import free_port

ROWS = np.random.default_rng(3).uniform(0, 7, (6, 4)).astype(np.float32)
COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
CLASSES = ["setosa", "versicolor", "virginica"]
ONE_ROW = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": ROWS[0].tolist()}]}


class Server:
    """`python -m modelplane.cli.main serve` in a process of its own; stopped by SIGTERM."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.rest_port, self.grpc_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.rest_port}"
        self.grpc_address = f"127.0.0.1:{self.grpc_port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        args = ["serve", "--port", str(self.rest_port), "--grpc-port", str(self.grpc_port), "--poll", "0.1"]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "modelplane.cli.main", *args],
            env={**os.environ, "MODELPLANE_HOME": str(self.home)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited: {self.process.stderr.read().decode()}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"{self.url}/v2/health/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("serve did not become ready within 60 s")

    def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)


def wait_until(check: object, timeout_s: float = 10.0) -> None:
    """Poll `check()` until true: the server follows the store on its own poll interval."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("serve-home")
    local = Local(path)
    local.datasets.add("iris", source="builtin:iris")
    local.train(data="iris", model="mlp", train={"epochs": 3, "seed": 1})  # iris-mlp@1
    local.train(data="iris", model="mlp", train={"epochs": 5, "seed": 2})  # iris-mlp@2
    local.models.alias("iris-mlp@1", "production")
    local.close()
    yield path


@pytest.fixture(autouse=True)
def isolated_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Overrides the suite's per-test home: the CLI, the library and the server share this module's."""
    monkeypatch.setenv("MODELPLANE_HOME", str(home))
    get_settings.cache_clear()
    platform.cache_clear()
    yield home
    get_settings.cache_clear()
    platform.cache_clear()


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[Server]:
    local = Local(home)
    local.deploy({"model": "iris-mlp@production"})
    local.deploy({"model": "iris-mlp@1", "canary": {"model": "iris-mlp@2", "percent": 30}}, name="canary")
    local.deploy({"ensemble": {"members": ["iris-mlp@1", "iris-mlp@2"], "combine": "mean"}}, name="ens")
    local.close()
    running = Server(home).start()
    yield running
    running.stop()


def expected(home: Path, ref: str, rows: np.ndarray = ROWS) -> dict[str, np.ndarray]:
    local = Local(home)
    try:
        return load_runtime(local.store, local.models.version(ref)).predict(rows)
    finally:
        local.close()


def text(labels: np.ndarray) -> list[str]:
    """BYTES as tritonclient gives them (bytes from binary data, str from JSON) as text."""
    return [v.decode() if isinstance(v, bytes) else str(v) for v in labels.reshape(-1)]


def test_tritonclient_http_with_default_arguments(server: Server, home: Path) -> None:
    client = triton_http.InferenceServerClient(server.url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("iris-mlp")
    metadata = client.get_model_metadata("iris-mlp")
    assert metadata["inputs"][0] == {"name": "sepal length (cm)", "datatype": "FP32", "shape": [-1, 1]}
    assert metadata["parameters"]["classes"] == CLASSES
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    tensor = triton_http.InferInput("input", list(ROWS.shape), "FP32")
    tensor.set_data_from_numpy(ROWS)  # binary by default
    result = client.infer("iris-mlp", [tensor], request_id="abc")
    want = expected(home, "iris-mlp@1")
    np.testing.assert_allclose(result.as_numpy("probabilities"), want["probabilities"], atol=1e-6)
    assert text(result.as_numpy("label")) == [CLASSES[i] for i in want["label"]]
    assert result.get_response()["id"] == "abc"
    with pytest.raises(triton_http.InferenceServerException, match="not deployed"):
        client.infer("nope", [tensor])


def test_tritonclient_grpc_with_default_arguments(server: Server, home: Path) -> None:
    client = triton_grpc.InferenceServerClient(server.grpc_address)
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("ens")
    metadata = client.get_model_metadata("iris-mlp", as_json=True)
    assert [(i["name"], i["shape"]) for i in metadata["inputs"]] == [(c, ["-1", "1"]) for c in COLUMNS]
    tensor = triton_grpc.InferInput("input", list(ROWS.shape), "FP32")
    tensor.set_data_from_numpy(ROWS)
    result = client.infer("iris-mlp", [tensor], outputs=[triton_grpc.InferRequestedOutput("probabilities")])
    np.testing.assert_allclose(
        result.as_numpy("probabilities"), expected(home, "iris-mlp@1")["probabilities"], atol=1e-6
    )
    assert result.as_numpy("label") is None
    bad = triton_grpc.InferInput("input", [2, 3], "FP32")
    bad.set_data_from_numpy(ROWS[:2, :3])
    with pytest.raises(triton_grpc.InferenceServerException, match=r"shape \[N, 4\].*\[2, 3\]"):
        client.infer("iris-mlp", [bad])


def test_named_columns_and_class_names_on_every_front_end(server: Server, home: Path) -> None:
    want = [CLASSES[i] for i in expected(home, "iris-mlp@1")["label"]]
    records = [dict(reversed(list(zip(COLUMNS, row, strict=True)))) for row in ROWS.tolist()]
    with httpx.Client(base_url=server.url) as http:
        answer = http.post("/v1/predict/iris-mlp", json={"instances": records}).json()
        assert [p["label"] for p in answer["predictions"]] == want
        by_rows = http.post("/v1/predict/iris-mlp", json={"instances": ROWS.tolist()}).json()["predictions"]
        assert [p["label"] for p in by_rows] == want
        extra = http.post("/v1/predict/iris-mlp", json={"instances": [{**records[0], "species": "?"}]}).json()
        assert extra["ignored_columns"] == ["species"]
        missing = http.post("/v1/predict/iris-mlp", json={"inputs": {COLUMNS[0]: [1.0]}})
        assert missing.status_code == 400 and "missing column(s) sepal width (cm)" in missing.json()["error"]
    grpc = triton_grpc.InferenceServerClient(server.grpc_address)
    tensors = []
    for j, name in reversed(list(enumerate(COLUMNS))):
        tensor = triton_grpc.InferInput(name, [len(ROWS), 1], "FP32")
        tensor.set_data_from_numpy(np.ascontiguousarray(ROWS[:, j : j + 1]))
        tensors.append(tensor)
    assert text(grpc.infer("iris-mlp", tensors).as_numpy("label")) == want


def test_v1_predict_and_bad_input_over_http(server: Server) -> None:
    with httpx.Client(base_url=server.url) as http:
        answer = http.post("/v1/predict/iris-mlp", json={"instances": ROWS.tolist()})
        assert answer.status_code == 200 and len(answer.json()["predictions"]) == len(ROWS)
        cases = [
            (http.post("/v2/models/nope/infer", json=ONE_ROW), 404, "not deployed"),
            (http.get("/v2/models/iris-mlp/versions/9"), 404, "no version 9"),
            (http.post("/v2/models/iris-mlp/infer", content=b"{not json"), 400, "JSON"),
            (
                http.post(
                    "/v2/models/iris-mlp/infer",
                    json={
                        "inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]
                    },
                ),
                400,
                "input 'input'",
            ),
            (
                http.post(
                    "/v2/models/iris-mlp/infer",
                    json={"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2]}]},
                ),
                400,
                "input",
            ),
        ]
        for response, status, text in cases:
            assert response.status_code == status, response.text
            assert text in response.json()["error"]


def _batch_sizes(metrics: str, deployment: str) -> tuple[float, float]:
    """(requests in batches of one, all batches) for a deployment, from the Prometheus text."""
    ones = total = 0.0
    for line in metrics.splitlines():
        if not line.startswith("modelplane_batch_size_bucket") or f'deployment="{deployment}"' not in line:
            continue
        value = float(line.rsplit(" ", 1)[1])
        if 'le="1.0"' in line:
            ones += value
        if 'le="+Inf"' in line:
            total += value
    return ones, total


async def _fire(url: str, path: str, bodies: list[dict[str, object]]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=httpx.Limits(max_connections=256)) as http:
        return list(await asyncio.gather(*(http.post(path, json=body) for body in bodies)))


def test_concurrent_requests_are_merged_into_batches(server: Server) -> None:
    responses = asyncio.run(_fire(server.url, "/v2/models/canary/infer", [ONE_ROW] * 128))
    assert {r.status_code for r in responses} == {200}
    ones, total = _batch_sizes(httpx.get(f"{server.url}/metrics").text, "canary")
    assert total > ones, "no runtime call ever held more than one request"


def test_a_full_queue_answers_503_with_retry_after(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["deploy", "iris-mlp@2", "--name", "tiny", "--max-batch-size", "1", "--max-queue-size", "1"]
    assert run_cli(capsys, *args).code == 0
    wait_until(lambda: httpx.get(f"{server.url}/v2/models/tiny/ready").status_code == 200)
    rows = np.tile(ROWS, (200, 1))  # 1,000 rows, computed a row at a time
    body = {
        "inputs": [
            {"name": "input", "shape": list(rows.shape), "datatype": "FP32", "data": rows.ravel().tolist()}
        ]
    }
    responses = asyncio.run(_fire(server.url, "/v2/models/tiny/infer", [body] * 24))
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) == {200, 503} and statuses[503] > 0, statuses
    refused = next(r for r in responses if r.status_code == 503)
    assert int(refused.headers["retry-after"]) >= 1 and "queue" in refused.json()["error"]
    assert run_cli(capsys, "deployments", "undeploy", "tiny").code == 0
    wait_until(lambda: httpx.get(f"{server.url}/v2/models/tiny/ready").status_code == 404)


def test_hot_swap_under_load_fails_no_request(server: Server, home: Path) -> None:
    async def load() -> tuple[Counter[str], Counter[int]]:
        versions: Counter[str] = Counter()
        statuses: Counter[int] = Counter()
        stop = asyncio.Event()
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:

            async def client() -> None:
                while not stop.is_set():
                    response = await http.post("/v2/models/iris-mlp/infer", json=ONE_ROW)
                    statuses[response.status_code] += 1
                    if response.status_code == 200:
                        versions[response.json()["model_version"]] += 1

            clients = [asyncio.create_task(client()) for _ in range(64)]
            deadline = time.monotonic() + 15  # the swap comes once version 1 answers under load
            while versions["1"] < 50 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            local = Local(home)
            local.models.alias("iris-mlp@2", "production")
            local.close()
            deadline = time.monotonic() + 15
            while versions["2"] < 200 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            stop.set()
            await asyncio.gather(*clients)
        return versions, statuses

    versions, statuses = asyncio.run(load())
    Local(home).models.alias("iris-mlp@1", "production")
    assert set(statuses) == {200}, statuses
    assert versions["1"] > 0 and versions["2"] >= 200, versions


def test_canary_split_is_near_the_percentage_and_sticky(server: Server) -> None:
    def version(request_id: str) -> str:
        response = http.post("/v2/models/canary/infer", json={"id": request_id, **ONE_ROW})
        assert response.status_code == 200 and response.json()["id"] == request_id
        return str(response.json()["model_version"])

    with httpx.Client(base_url=server.url) as http:
        counts = Counter(version(f"user-{i}") for i in range(500))
        assert 0.30 - 0.07 <= counts["2"] / 500 <= 0.30 + 0.07, counts
        assert len({version("user-42") for _ in range(10)}) == 1


def test_ensemble_answers_the_mean_of_its_members(server: Server, home: Path) -> None:
    client = triton_http.InferenceServerClient(server.url.removeprefix("http://"))
    tensor = triton_http.InferInput("input", list(ROWS.shape), "FP32")
    tensor.set_data_from_numpy(ROWS)
    got = client.infer("ens", [tensor]).as_numpy("probabilities")
    members = [expected(home, ref)["probabilities"] for ref in ("iris-mlp@1", "iris-mlp@2")]
    np.testing.assert_allclose(got, np.mean(members, axis=0), atol=1e-6)


def test_predict_cli_prints_a_table(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    header = "sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n"  # builtin:iris's names
    rows.write_text(header + "\n".join(",".join(f"{v:.3f}" for v in row) for row in ROWS) + "\n")
    result = run_cli(capsys, "predict", "iris-mlp", "--input", str(rows))
    assert result.code == 0, result.err
    assert "predictions of iris-mlp" in result.out and len(re.findall(r"│ \d+ ", result.out)) == len(ROWS)


def test_a_restarted_server_reloads_every_deployment(server: Server) -> None:
    server.stop()
    server.start()
    for name in ("iris-mlp", "canary", "ens"):
        assert httpx.get(f"{server.url}/v2/models/{name}/ready").status_code == 200


def test_large_requests_are_computed_in_chunks_and_bounded(
    server: Server, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["deploy", "iris-mlp@1", "--name", "big", "--max-batch-size", "64", "--max-request-rows", "30000"]
    assert run_cli(capsys, *args).code == 0
    wait_until(lambda: httpx.get(f"{server.url}/v2/models/big/ready").status_code == 200)
    rows = np.random.default_rng(5).uniform(0, 7, (25_000, 4)).astype(np.float32)
    want = expected(home, "iris-mlp@1", rows)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        v1 = http.post("/v1/predict/big", json={"instances": rows.tolist()})  # ~0.9 MB: the large-body path
        assert v1.status_code == 200, v1.text
        probabilities = np.array([p["probabilities"] for p in v1.json()["predictions"]], dtype=np.float32)
        np.testing.assert_allclose(probabilities, want["probabilities"], rtol=1e-5, atol=1e-6)
        v2 = http.post(
            "/v2/models/big/infer",
            json={
                "inputs": [{"name": "input", "shape": [25_000, 4], "datatype": "FP32", "data": rows.tolist()}]
            },
        )
        assert v2.status_code == 200, v2.text
        outputs = {o["name"]: o for o in v2.json()["outputs"]}
        got = np.array(outputs["probabilities"]["data"], dtype=np.float32).reshape(-1, 3)
        np.testing.assert_allclose(got, want["probabilities"], rtol=1e-5, atol=1e-6)
        assert outputs["label"]["shape"] == [25_000]

        ragged = http.post("/v1/predict/big", json={"instances": [*rows.tolist(), [1.0, 2.0]]})
        assert ragged.status_code == 400 and "same shape" in ragged.json()["error"]
        too_many = http.post("/v1/predict/big", json={"instances": np.tile(rows, (2, 1))[:30_001].tolist()})
        assert too_many.status_code == 413 and "--max-request-rows" in too_many.json()["error"]
        padded = b'{"instances": [[1, 2, 3, 4]]' + b" " * 15_000_000 + b"}"  # past what 30,000 rows need
        too_big = http.post("/v1/predict/big", content=padded)
        assert too_big.status_code == 413 and "limit" in too_big.json()["error"]
    assert run_cli(capsys, "deployments", "undeploy", "big").code == 0


def test_v2_datatypes_are_strict_on_both_transports(server: Server) -> None:
    def infer(datatype: str, data: list[object]) -> httpx.Response:
        body = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": datatype, "data": data}]}
        return httpx.post(f"{server.url}/v2/models/iris-mlp/infer", json=body)

    assert infer("FP32", [1, 2, 3, 4.5]).status_code == 200  # JSON integers are numbers for FP32
    for response, fragment in (
        (infer("INT64", [1, 2, 3, 4]), "is FP32, got INT64"),
        (infer("FP64", [1.0, 2.0, 3.0, 4.0]), "is FP32, got FP64"),
        (infer("FP32", [True, 2.0, 3.0, 4.0]), "booleans"),
    ):
        assert response.status_code == 400 and fragment in response.json()["error"], response.text
    client = triton_grpc.InferenceServerClient(server.grpc_address)
    tensor = triton_grpc.InferInput("input", [1, 4], "FP64")
    tensor.set_data_from_numpy(ROWS[:1].astype(np.float64))
    with pytest.raises(Exception, match="is FP32, got FP64") as refused:
        client.infer("iris-mlp", [tensor])
    assert "INVALID_ARGUMENT" in str(refused.value)
    client.close()

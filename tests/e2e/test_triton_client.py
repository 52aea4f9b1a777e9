"""Triton's model-control, configuration and statistics calls from the real `tritonclient` (HTTP and gRPC,
default arguments) against a data plane on sockets with API keys: a developer unloads and loads a
deployment and reads its config and statistics; a consumer key may only predict."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from tritonclient.utils import InferenceServerException

from modelplane.api.gate import PlatformGate
from modelplane.local import Local
from modelplane.security.keys import Authenticator, create_key
from modelplane.security.limits import Limiter
from modelplane.security.principal import Principal
from modelplane.serving.metrics import ServingMetrics
from modelplane.serving.server import BackgroundDataPlane, DataPlane, ServeOptions

ROWS = np.random.default_rng(5).uniform(0, 7, (3, 4)).astype(np.float32)
ROLES = ("admin", "developer", "consumer")


@dataclass
class Running:
    plane: BackgroundDataPlane
    keys: dict[str, str]

    def http(self) -> triton_http.InferenceServerClient:
        return triton_http.InferenceServerClient(self.plane.url.removeprefix("http://"))

    def grpc(self) -> triton_grpc.InferenceServerClient:
        return triton_grpc.InferenceServerClient(f"127.0.0.1:{self.plane.plane.grpc_port}")

    def headers(self, role: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.keys[role]}"}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    local = Local(tmp_path_factory.mktemp("triton-home"))
    local.datasets.add("iris", source="builtin:iris")
    local.train(data="iris", model="mlp", train={"epochs": 3, "seed": 1})  # iris-mlp@1
    local.deploy({"model": "iris-mlp@1", "batching": {"max_batch_size": 16}}, name="iris")
    owner = Principal.local("test")
    scopes = {"consumer": ("iris",)}  # a consumer key predicts on named deployments only
    keys = {
        role: create_key(local.store, owner, role=role, name=role, deployments=scopes.get(role, ())).key
        for role in ROLES
    }
    gate = PlatformGate(Authenticator(local.store, recheck_s=0), Limiter(local.store), None)
    options = ServeOptions(port=0, grpc_port=0, poll_interval_s=0.1)
    with BackgroundDataPlane(DataPlane(local.store, options, ServingMetrics(), gate=gate)) as plane:
        yield Running(plane, keys)
    local.close()


def http_infer(client: Any, headers: dict[str, str]) -> np.ndarray:
    tensor = triton_http.InferInput("input", list(ROWS.shape), "FP32")
    tensor.set_data_from_numpy(ROWS)
    # A copy: the client writes Inference-Header-Content-Length into the dict it is given.
    return client.infer("iris", [tensor], headers=dict(headers)).as_numpy("probabilities")


def grpc_infer(client: Any, headers: dict[str, str]) -> np.ndarray:
    tensor = triton_grpc.InferInput("input", list(ROWS.shape), "FP32")
    tensor.set_data_from_numpy(ROWS)
    return client.infer("iris", [tensor], headers=headers).as_numpy("probabilities")


def test_http_client_unloads_loads_and_reads_config_and_statistics(running: Running) -> None:
    client = running.http()
    dev = running.headers("developer")
    assert {"model_repository", "statistics"} <= set(client.get_server_metadata()["extensions"])
    assert client.get_model_repository_index(headers=dev) == [
        {"name": "iris", "version": "1", "state": "READY", "reason": ""}
    ]
    config = client.get_model_config("iris", headers=dev)
    assert config["max_batch_size"] == 16 and config["platform"] == "onnxruntime_onnx"
    assert {t["data_type"] for t in config["input"]} == {"TYPE_FP32"}
    before = client.get_inference_statistics("iris", headers=dev)["model_stats"][0]
    expected = http_infer(client, dev)
    after = client.get_inference_statistics("iris", "1", headers=dev)["model_stats"][0]
    assert after["inference_count"] == before["inference_count"] + 3
    assert after["inference_stats"]["success"]["count"] == before["inference_stats"]["success"]["count"] + 1

    client.unload_model("iris", headers=dev)
    assert not client.is_model_ready("iris", headers=dev)
    with pytest.raises(InferenceServerException, match="unloaded on this server; load it again"):
        http_infer(client, dev)
    [entry] = client.get_model_repository_index(headers=dev)
    assert entry["state"] == "UNAVAILABLE" and "unloaded" in entry["reason"]
    client.load_model("iris", headers=dev)
    assert client.is_model_ready("iris", headers=dev)
    np.testing.assert_allclose(http_infer(client, dev), expected, atol=1e-6)
    with pytest.raises(InferenceServerException, match="cannot carry a model config"):
        client.load_model("iris", headers=dev, config='{"max_batch_size": 2}')
    with pytest.raises(InferenceServerException, match="modelplane deploy MODEL@VERSION --name nope"):
        client.load_model("nope", headers=dev)
    client.close()


def test_grpc_client_unloads_loads_and_reads_config_and_statistics(running: Running) -> None:
    client = running.grpc()
    dev = running.headers("developer")
    assert "model_configuration" in client.get_server_metadata().extensions
    [model] = client.get_model_repository_index(headers=dev, as_json=True)["models"]
    assert model == {"name": "iris", "version": "1", "state": "READY"}  # proto JSON leaves out ""
    config = client.get_model_config("iris", headers=dev).config
    assert config.max_batch_size == 16 and config.dynamic_batching.max_queue_delay_microseconds == 2000
    assert [o.name for o in config.output] == ["label", "probabilities"]
    before = client.get_inference_statistics("iris", headers=dev).model_stats[0]
    expected = grpc_infer(client, dev)
    after = client.get_inference_statistics("iris", headers=dev).model_stats[0]
    assert after.inference_count == before.inference_count + 3
    assert after.execution_count >= before.execution_count + 1 and after.last_inference > 0

    client.unload_model("iris", headers=dev)
    assert not client.is_model_ready("iris", headers=dev)
    with pytest.raises(InferenceServerException, match="unloaded on this server") as failed:
        grpc_infer(client, dev)
    assert failed.value.status() == "StatusCode.NOT_FOUND"
    client.load_model("iris", headers=dev)
    assert client.is_model_ready("iris", headers=dev)
    np.testing.assert_allclose(grpc_infer(client, dev), expected, atol=1e-6)
    client.close()


def test_consumer_keys_may_predict_but_not_control_the_repository(running: Running) -> None:
    consumer = running.headers("consumer")
    http, grpc = running.http(), running.grpc()
    calls = [
        lambda c: c.get_model_repository_index(headers=consumer),
        lambda c: c.unload_model("iris", headers=consumer),
        lambda c: c.load_model("iris", headers=consumer),
        lambda c: c.get_model_config("iris", headers=consumer),
        lambda c: c.get_inference_statistics("iris", headers=consumer),
    ]
    for client in (http, grpc):
        for call in calls:
            with pytest.raises(InferenceServerException, match="role 'consumer', which may not") as refused:
                call(client)
            assert refused.value.status() in ("403", "StatusCode.PERMISSION_DENIED")
        with pytest.raises(InferenceServerException, match="needs an API key"):
            client.get_model_repository_index()
    assert http.is_model_ready("iris", headers=consumer)  # nothing was unloaded
    assert http_infer(http, consumer).shape == (3, 3) and grpc_infer(grpc, consumer).shape == (3, 3)
    admin = running.headers("admin")
    assert http.get_model_repository_index(headers=admin)[0]["state"] == "READY"
    http.close()
    grpc.close()


def test_bad_repository_requests_answer_json_errors_and_change_nothing(running: Running) -> None:
    dev = running.headers("developer")
    base = running.plane.url
    cases = [
        ("POST", "/v2/repository/index", b'{"ready": "yes"}', 400, "'ready' must be true or false"),
        ("POST", "/v2/repository/index", b"{not json", 400, "not valid JSON"),
        ("POST", "/v2/repository/models/iris/unload", b'{"parameters": []}', 400, "'parameters' must be"),
        ("GET", "/v2/repository/index", b"", 405, "use POST"),
        ("GET", "/v2/models/nope/stats", b"", 404, "'nope' is not deployed"),
        ("GET", "/v2/models/iris/versions/9/config", b"", 404, "no version 9"),
        ("POST", "/v2/repository/models/nope/unload", b"", 404, "no deployment named 'nope' to unload"),
    ]
    with httpx.Client(base_url=base, headers=dev, timeout=10) as http:
        for method, path, body, status, words in cases:
            answer = http.request(method, path, content=body)
            assert (answer.status_code, path) == (status, path)
            assert words in answer.json()["error"]
        assert http.get("/v2/models/iris/ready").status_code == 200
        every = http.get("/v2/models/stats").json()["model_stats"]
        assert [(s["name"], s["version"]) for s in every] == [("iris", "1")]

"""`modelplane up --serve-backend ray` as a user runs it against a cluster: the model runs as a Ray Serve
application while the front end stays the platform's own, so API keys, per-deployment permissions and usage
metering hold on REST and gRPC exactly as with local serving."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import tritonclient.grpc as triton_grpc

from modelplane import errors
from modelplane.client import Client
from modelplane.local import Local
from tests.e2e.test_platform import ROWS, Up


@pytest.fixture
def up(tmp_path: Path, ray_address: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Up]:
    local = Local(tmp_path / "home")
    local.datasets.add("iris", source="builtin:iris")
    local.train(data="iris", model="mlp", train={"epochs": 2})
    local.close()
    monkeypatch.setenv("MODELPLANE_RAY_ADDRESS", ray_address)
    server = Up(tmp_path / "home", "--serve-backend", "ray")
    yield server
    server.stop()
    print(server.log.read_text()[-6000:])


def test_keys_and_metering_hold_when_the_model_runs_on_ray_serve(up: Up) -> None:
    admin = Client(up.url, up.admin_key)
    admin.deploy({"model": "iris-mlp@1"}, name="iris")
    created = admin.keys.create(role="consumer", name="acme", deployments=["iris"])
    consumer = Client(up.url, created.key)
    try:
        assert consumer.predict("iris", ROWS)["label"].shape == (2,)
        with pytest.raises(errors.Unauthorized):
            Client(up.url, "mp_000000000000_" + "x" * 43).predict("iris", ROWS)
        grpc = triton_grpc.InferenceServerClient(f"127.0.0.1:{up.grpc_port}")
        tensor = triton_grpc.InferInput("input", list(ROWS.shape), "FP32")
        tensor.set_data_from_numpy(ROWS)
        answer = grpc.infer("iris", [tensor], headers={"authorization": f"Bearer {created.key}"})
        assert answer.as_numpy("label").shape == (2,)
        with pytest.raises(triton_grpc.InferenceServerException) as missing:
            grpc.infer("iris", [tensor])
        assert missing.value.status() == "StatusCode.UNAUTHENTICATED"
        deadline = time.monotonic() + 10
        while not (rows := admin.usage.report()):
            assert time.monotonic() < deadline, "usage never showed the predictions"
            time.sleep(0.2)
        assert rows[0].deployment == "iris" and rows[0].requests >= 2
        auth = {"Authorization": f"Bearer {up.admin_key}"}
        metrics = httpx.get(f"{up.url}/metrics", headers=auth, timeout=10).text
        assert 'modelplane_replicas{deployment="iris",version="1"} 1.0' in metrics  # one Serve replica
    finally:
        consumer.close()
        admin.close()

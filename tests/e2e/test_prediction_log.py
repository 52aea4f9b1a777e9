"""The prediction log end to end: a data plane on sockets with API keys answers REST V2, /v1/predict and
gRPC (tritonclient), every answer carries the id its logged rows have, the caller's key id is recorded,
and a server stopped cleanly leaves only sealed Parquet segments."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import tritonclient.grpc as triton_grpc

from modelplane.api.gate import PlatformGate
from modelplane.local import Local
from modelplane.monitoring.log_files import read_log
from modelplane.security.keys import Authenticator, create_key
from modelplane.security.limits import Limiter
from modelplane.security.principal import Principal
from modelplane.serving.metrics import ServingMetrics
from modelplane.serving.server import BackgroundDataPlane, DataPlane, ServeOptions

ROWS = np.random.default_rng(9).uniform(0, 7, (2, 4)).astype(np.float32)


def test_every_front_end_logs_with_ids_and_key_ids(tmp_path: Path) -> None:
    local = Local(tmp_path / "home")
    local.datasets.add("iris", source="builtin:iris")
    local.train(data="iris", model="logreg")  # iris-logreg@1
    local.deploy({"model": "iris-logreg@1"}, name="iris")
    made = create_key(
        local.store, Principal.local("test"), role="consumer", name="app", deployments=("iris",)
    )
    headers = {"authorization": f"Bearer {made.key}"}
    gate = PlatformGate(Authenticator(local.store, recheck_s=0), Limiter(local.store), None)
    options = ServeOptions(port=0, grpc_port=0, poll_interval_s=0.1)
    plane = DataPlane(local.store, options, ServingMetrics(), gate=gate)
    ids = []
    with BackgroundDataPlane(plane) as running:
        v2 = {
            "inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32", "data": ROWS.ravel().tolist()}]
        }
        first = httpx.post(f"{running.url}/v2/models/iris/infer", json=v2, headers=headers).json()
        own = httpx.post(
            f"{running.url}/v2/models/iris/infer", json={**v2, "id": "mine"}, headers=headers
        ).json()
        v1 = httpx.post(
            f"{running.url}/v1/predict/iris", json={"instances": ROWS.tolist()}, headers=headers
        ).json()
        client = triton_grpc.InferenceServerClient(f"127.0.0.1:{plane.grpc_port}")
        tensor = triton_grpc.InferInput("input", list(ROWS.shape), "FP32")
        tensor.set_data_from_numpy(ROWS)
        grpc_answer = client.infer("iris", [tensor], headers=headers).get_response()
        client.close()
        ids = [first["id"], own["id"], v1["id"], grpc_answer.id]
        plane.prediction_log.flush()
        table = read_log(local.store.settings.home, "iris")  # readable while the server runs
        assert table.num_rows == 8
    assert ids[1] == "mine" and len(set(ids)) == 4 and all(ids)
    assert [p["label"] for p in v1["predictions"]] == first["outputs"][0]["data"]

    table = read_log(local.store.settings.home, "iris")
    assert table["request_id"].to_pylist() == [i for i in ids for _ in range(2)]
    assert table["key_id"].unique().to_pylist() == [made.info.id]
    assert table["label"].to_pylist()[:2] == first["outputs"][0]["data"]
    np.testing.assert_allclose(np.array(table["f:sepal length (cm)"].to_pylist()), np.tile(ROWS[:, 0], 4))
    folder = local.store.settings.home / "monitoring" / "iris"
    assert not list(folder.glob("*/*.arrows")) and list(folder.glob("*/*.parquet"))
    local.close()

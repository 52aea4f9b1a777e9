"""Models trained elsewhere, imported through `modelplane up` with the Python client (chunked uploads),
then deployed, served on V2 REST, V2 gRPC and /v1/predict, batch-predicted, exported and compressed."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tritonclient.grpc as triton_grpc

from modelplane import errors
from modelplane.client import Client
from tests.e2e.test_platform import Up

COLUMNS = ["a", "b", "c", "d"]
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
TREE = ("sklearn.tree._tree.Tree",)  # forests' node storage: skops trusts it only when told


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    server = Up(tmp_path_factory.mktemp("import-home"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin(up: Up) -> Iterator[Client]:
    client = Client(up.url, up.admin_key)
    yield client
    client.close()


@pytest.fixture(scope="module")
def iris(admin: Client, tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from sklearn.datasets import load_iris

    data = load_iris()
    csv = tmp_path_factory.mktemp("iris") / "iris.csv"
    lines = ["a,b,c,d,species"] + [
        ",".join(f"{v:g}" for v in row) + f",{data.target_names[y]}"
        for row, y in zip(data.data, data.target, strict=True)
    ]
    csv.write_text("\n".join(lines) + "\n")
    added = admin.datasets.add("iris", source=str(csv), target="species")
    return data.data.astype(np.float32), data.target, list(added.version.classes or [])


def _ready(up: Up, name: str) -> None:
    deadline = time.monotonic() + 20
    while (
        httpx.get(f"{up.url}/v2/models/{name}/ready", headers={"x-api-key": up.admin_key}).status_code != 200
    ):
        assert time.monotonic() < deadline, f"{name} never became ready"
        time.sleep(0.1)


def test_an_imported_onnx_model_lives_like_a_trained_one(
    up: Up, admin: Client, iris: tuple[np.ndarray, np.ndarray, list[str]], tmp_path: Path
) -> None:
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    x, y, classes = iris
    model = LogisticRegression(max_iter=1000).fit(x, y)
    path = tmp_path / "iris.onnx"
    path.write_bytes(to_onnx(model, x[:1]).SerializeToString())
    reference = tmp_path / "reference.parquet"
    pq.write_table(pa.table({c: x[:20, i] for i, c in enumerate(COLUMNS)}), reference)

    info = admin.models.import_model("iris-onnx", path, reference=reference, data="iris@1", evaluate=True)
    assert info.ref == "iris-onnx@1" and info.classes == classes and info.dataset == "iris@1"
    assert info.metrics["test"]["accuracy"] > 0.8 and "reference" in info.artifacts
    assert info.params["imported"]["file"] == "iris.onnx"

    admin.deploy({"model": "iris-onnx@1"})
    _ready(up, "iris-onnx")
    want = model.predict_proba(x[:5])
    got = admin.predict("iris-onnx", x[:5])
    np.testing.assert_allclose(got["probabilities"], want, atol=1e-4)
    assert got["label"].tolist() == [classes[i] for i in want.argmax(1)]

    headers = {"x-api-key": up.admin_key}
    body = {
        "inputs": [{"name": "input", "shape": [5, 4], "datatype": "FP32", "data": x[:5].ravel().tolist()}]
    }
    v2 = httpx.post(f"{up.url}/v2/models/iris-onnx/infer", json=body, headers=headers).json()
    probabilities = next(o for o in v2["outputs"] if o["name"] == "probabilities")
    np.testing.assert_allclose(np.reshape(probabilities["data"], (5, 3)), want, atol=1e-4)
    v1 = httpx.post(f"{up.url}/v1/predict/iris-onnx", json={"instances": x[:2].tolist()}, headers=headers)
    assert [p["label"] for p in v1.json()["predictions"]] == [classes[i] for i in want[:2].argmax(1)]
    grpc = triton_grpc.InferenceServerClient(f"127.0.0.1:{up.grpc_port}")
    tensor = triton_grpc.InferInput("input", [5, 4], "FP32")
    tensor.set_data_from_numpy(x[:5])
    answer = grpc.infer("iris-onnx", [tensor], headers={"x-api-key": up.admin_key})
    np.testing.assert_allclose(answer.as_numpy("probabilities"), want, atol=1e-4)

    rows = tmp_path / "rows.parquet"
    pq.write_table(pa.table({c: x[:, i] for i, c in enumerate(COLUMNS)}), rows)
    job = admin.batch("iris-onnx", rows, tmp_path / "out.parquet")
    assert job.state == "succeeded", job
    assert pq.read_table(tmp_path / "out.parquet").num_rows == len(x)

    files = admin.export("iris-onnx@1", "onnx", tmp_path / "export")
    graph = next(f for f in files if f.suffix == ".onnx")
    card = json.loads(next(f for f in files if f.suffix == ".json").read_text())
    assert card["classes"] == classes
    session = ort.InferenceSession(str(graph))
    np.testing.assert_allclose(session.run(["probabilities"], {"input": x[:5]})[0], want, atol=1e-4)

    with pytest.raises(errors.Invalid, match="imported from elsewhere"):
        admin.compress("iris-onnx@1", quantize="int8")


def test_every_format_uploads_through_the_client_and_the_torch_one_compresses(
    up: Up, admin: Client, iris: tuple[np.ndarray, np.ndarray, list[str]], tmp_path: Path
) -> None:
    import mlflow.sklearn
    import skops.io as sio
    import torch
    from sklearn.ensemble import RandomForestClassifier

    from modelplane.models.frameworks import default_spec, framework

    x, y, classes = iris
    forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(x, y)
    sio.dump(forest, tmp_path / "forest.skops")
    skops_version = admin.models.import_model(
        "iris-forest", tmp_path / "forest.skops", data="iris@1", evaluate=True, trust=TREE
    )
    assert skops_version.metrics["test"]["accuracy"] > 0.8

    mlflow.sklearn.save_model(
        forest,
        str(tmp_path / "mlf"),
        serialization_format="skops",
        skops_trusted_types=list(TREE),
        pip_requirements=[],
    )
    from_mlflow = admin.models.import_model(
        "iris-forest", tmp_path / "mlf", classes=tuple(classes), trust=TREE
    )
    assert from_mlflow.version == 2 and from_mlflow.params["imported"]["flavor"] == "sklearn"
    admin.deploy({"model": "iris-forest@2"})
    _ready(up, "iris-forest")
    got = admin.predict("iris-forest", x[:5])
    np.testing.assert_allclose(got["probabilities"], forest.predict_proba(x[:5]), atol=1e-5)

    net = torch.nn.Sequential(torch.nn.Linear(4, 3))
    torch.jit.script(net).save(str(tmp_path / "net.pt"))
    scripted = admin.models.import_model("iris-ts", tmp_path / "net.pt", classes=tuple(classes))
    assert scripted.params["imported"]["format"] == "torchscript"

    spec = default_spec("mlp", task="classification", input_shape=[4], num_outputs=3)
    adapter = framework("torch")
    folder = tmp_path / "weights"
    folder.mkdir()
    adapter.save_weights(adapter.build(spec, seed=0), folder)
    (folder / "spec.json").write_text(json.dumps(spec.model_dump(mode="json")))
    weights = admin.models.import_model("iris-weights", folder, data="iris@1", evaluate=True)
    assert (weights.framework, weights.kind, weights.dataset) == ("torch", "mlp", "iris@1")
    smaller = admin.compress("iris-weights@1", quantize="int8")
    assert smaller.version.parent == "iris-weights@1" and smaller.version.framework == "onnx"

    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"garbage")
    with pytest.raises(errors.Invalid, match=r"bad\.onnx is not a readable ONNX model"):
        admin.models.import_model("iris-bad", bad)
    assert "iris-bad" not in [m.name for m in admin.models.list()]

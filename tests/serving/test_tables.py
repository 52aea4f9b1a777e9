"""Named columns end to end in the data plane: a version with preprocessing (a fake runtime that reads
structured rows and flags unseen categories) and a version without (a real iris model) behind REST /v1,
V2 JSON, V2 binary (tritonclient.http) and gRPC (tritonclient.grpc): records, columns, any order, missing
and extra columns, strictness, class names as labels, metadata, and unseen categories counted."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http

from modelplane.errors import Invalid
from modelplane.local import Local
from modelplane.serving import loaded, offline
from modelplane.serving.batcher import DynamicBatcher
from modelplane.serving.metrics import ServingMetrics
from modelplane.serving.server import BackgroundDataPlane, DataPlane, ServeOptions
from modelplane.serving.tables import rows_of
from modelplane.tables.columns import Column
from modelplane.tables.signature import TableSignature
from tests.serving.fakes import TABLE, TableRuntime

CLASSES = ["setosa", "versicolor", "virginica"]  # the deployed iris versions' classes
IRIS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
RECORDS: list[dict[str, Any]] = [
    {"plan": "pro", "tenure": 12, "autopay": True, "region": "us"},
    {"plan": "basic", "tenure": 40.5, "autopay": "no", "region": "eu"},
    {"plan": None, "tenure": None, "autopay": False, "region": "eu"},  # missing: imputed by the model
]
COLUMNS = {name: [row[name] for row in RECORDS] for name in TABLE.names}
FLOWERS = np.random.default_rng(7).uniform(0, 7, (4, 4)).round(2).astype(np.float32)


class Running:
    def __init__(self, background: BackgroundDataPlane, runtime: TableRuntime) -> None:
        self.url = background.url
        self.grpc = f"127.0.0.1:{background.plane.grpc_port}"
        self.runtime = runtime


@pytest.fixture(scope="module")
def running(trained: Local) -> Iterator[Running]:
    """`churn` (iris-logreg@1 standing in for a version with preprocessing: its runtime and signature
    replaced by the fakes) and `flowers` (iris-mlp@1 as it is: named columns, no preprocessing)."""
    runtime = TableRuntime()
    real_read, real_load = loaded.read_table, loaded.load_runtime

    def read_table(store: Any, info: Any) -> Any:
        return (TABLE, True) if info.model == "iris-logreg" else real_read(store, info)

    def load_runtime(store: Any, info: Any, chosen: str | None = None) -> Any:
        return runtime if info.model == "iris-logreg" else real_load(store, info, chosen)

    with pytest.MonkeyPatch.context() as patch:
        for module in (loaded, offline):
            patch.setattr(module, "read_table", read_table)
            patch.setattr(module, "load_runtime", load_runtime)
        trained.deploy({"model": "iris-logreg@1"}, name="churn")
        trained.deploy({"model": "iris-mlp@1"}, name="flowers")
        options = ServeOptions(port=0, grpc_port=0, poll_interval_s=0)
        try:
            with BackgroundDataPlane(DataPlane(trained.store, options, ServingMetrics())) as background:
                yield Running(background, runtime)
        finally:
            trained.deployments.undeploy("churn")
            trained.deployments.undeploy("flowers")


def expected(records: list[dict[str, Any]] = RECORDS) -> dict[str, Any]:
    """What the fake runtime answers, labels as class names."""
    values, _ = TABLE.values_from_records(records)
    out = TableRuntime().predict(TABLE.rows(values))
    return {"label": [CLASSES[i] for i in out["label"]], "probabilities": out["probabilities"]}


def v1(running: Running, body: dict[str, Any], status: int = 200, name: str = "churn") -> dict[str, Any]:
    answer = httpx.post(f"{running.url}/v1/predict/{name}", json=body, timeout=30)
    assert answer.status_code == status, answer.text
    return dict(answer.json())


def check(predictions: list[dict[str, Any]], want: dict[str, Any] | None = None) -> None:
    want = want or expected()
    assert [p["label"] for p in predictions] == want["label"]
    np.testing.assert_allclose([p["probabilities"] for p in predictions], want["probabilities"], atol=1e-6)


def v2_columns(extra: dict[str, Any] | None = None, **parameters: Any) -> dict[str, Any]:
    """One V2 JSON input per column (pandas-codec style), missing values as null."""
    inputs = [
        {"name": "plan", "datatype": "BYTES", "shape": [3], "data": COLUMNS["plan"]},
        {"name": "tenure", "datatype": "FP32", "shape": [3, 1], "data": COLUMNS["tenure"]},
        {"name": "autopay", "datatype": "BOOL", "shape": [3], "data": [True, False, False]},
        {"name": "region", "datatype": "BYTES", "shape": [3, 1], "data": COLUMNS["region"]},
    ]
    if extra:
        inputs.append(extra)
    return {"inputs": inputs, **({"parameters": parameters} if parameters else {})}


def text(labels: np.ndarray) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in labels.reshape(-1)]


def test_metadata_lists_columns_roles_and_classes(running: Running) -> None:
    meta = httpx.get(f"{running.url}/v2/models/churn", timeout=10).json()
    assert meta["inputs"] == [
        {"name": "plan", "datatype": "BYTES", "shape": [-1, 1]},
        {"name": "tenure", "datatype": "FP32", "shape": [-1, 1]},
        {"name": "autopay", "datatype": "BOOL", "shape": [-1, 1]},
        {"name": "region", "datatype": "BYTES", "shape": [-1, 1]},
    ]
    assert meta["outputs"] == [
        {"name": "label", "datatype": "BYTES", "shape": [-1]},
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]},
    ]
    assert meta["parameters"] == {"classes": CLASSES, "columns": [c.to_dict() for c in TABLE.columns]}
    http = triton_http.InferenceServerClient(running.url.removeprefix("http://"))
    assert http.get_model_metadata("churn")["parameters"]["classes"] == CLASSES
    grpc = triton_grpc.InferenceServerClient(running.grpc)
    inputs = grpc.get_model_metadata("flowers", as_json=True)["inputs"]
    assert [(i["name"], i["datatype"], i["shape"]) for i in inputs] == [
        (n, "FP32", ["-1", "1"]) for n in IRIS
    ]


def test_v1_records_in_any_order_and_columns_answer_alike(running: Running) -> None:
    check(v1(running, {"instances": RECORDS})["predictions"])
    swapped = [dict(reversed(list(row.items()))) for row in RECORDS]
    check(v1(running, {"instances": swapped})["predictions"])
    check(v1(running, {"inputs": COLUMNS})["predictions"])
    partial = [{k: v for k, v in row.items() if k != "tenure"} for row in RECORDS[:2]] + [RECORDS[0]]
    assert len(v1(running, {"instances": partial})["predictions"]) == 3  # absent in some rows: missing there


def test_v1_missing_extra_and_strict(running: Running) -> None:
    without = [{k: v for k, v in row.items() if k != "region"} for row in RECORDS]
    assert "missing column(s) region" in v1(running, {"instances": without}, 400)["error"]
    noted = [{**row, "note": "vip", "id": i} for i, row in enumerate(RECORDS)]
    answer = v1(running, {"instances": noted})
    assert answer["ignored_columns"] == ["note", "id"]
    check(answer["predictions"])
    refused = v1(running, {"instances": noted, "strict": True}, 400)["error"]
    assert "does not read: note, id" in refused
    assert "ignored_columns" not in v1(running, {"instances": RECORDS, "strict": True})
    matrix = v1(running, {"instances": [[1, 2, 3, 4]]}, 400)["error"]
    assert "reads categorical or datetime columns" in matrix and "named columns" in matrix
    assert "row 1" in v1(running, {"instances": [{**RECORDS[0], "tenure": "long"}]}, 400)["error"]
    assert "every row as an object" in v1(running, {"instances": [RECORDS[0], [1, 2]]}, 400)["error"]


def test_v2_json_one_input_per_column(running: Running) -> None:
    answer = httpx.post(f"{running.url}/v2/models/churn/infer", json=v2_columns(), timeout=30).json()
    outputs = {o["name"]: o for o in answer["outputs"]}
    assert list(outputs) == ["label", "probabilities"]  # `unknown` never reaches the caller
    assert outputs["label"]["datatype"] == "BYTES" and outputs["label"]["data"] == expected()["label"]
    np.testing.assert_allclose(
        np.reshape(outputs["probabilities"]["data"], (3, 3)), expected()["probabilities"], atol=1e-6
    )
    note = {"name": "note", "datatype": "BYTES", "shape": [3], "data": ["a", "b", "c"]}
    noted = httpx.post(f"{running.url}/v2/models/churn/infer", json=v2_columns(note), timeout=30).json()
    assert noted["parameters"] == {"ignored_columns": ["note"]}
    strict = httpx.post(
        f"{running.url}/v2/models/churn/infer", json=v2_columns(note, strict=True), timeout=30
    )
    assert strict.status_code == 400 and "does not read: note" in strict.json()["error"]
    body = v2_columns()
    body["inputs"][1]["data"] = [1.0, 1e39, 2.0]  # overflows FP32: Inf is never a missing value
    infinite = httpx.post(f"{running.url}/v2/models/churn/infer", json=body, timeout=30)
    assert infinite.status_code == 400 and "'tenure' holds Inf" in infinite.json()["error"]


def _triton_inputs(module: Any, order: list[str]) -> list[Any]:
    arrays = {
        "plan": np.array([b"pro", b"basic", b""], dtype=object),  # "" is a missing category
        "tenure": np.array([[12], [40.5], [np.nan]], dtype=np.float32),  # NaN is a missing number
        "autopay": np.array([True, False, False]),
        "region": np.array([b"us", b"eu", b"eu"], dtype=object),
    }
    tensors = []
    for name in order:
        array = arrays[name]
        tensor = module.InferInput(
            name, list(array.shape), {"O": "BYTES", "f": "FP32", "b": "BOOL"}[array.dtype.kind]
        )
        tensor.set_data_from_numpy(array)
        tensors.append(tensor)
    return tensors


def test_tritonclients_send_columns_in_any_order(running: Running) -> None:
    want = expected()
    http = triton_http.InferenceServerClient(running.url.removeprefix("http://"))
    grpc = triton_grpc.InferenceServerClient(running.grpc)
    for order in (TABLE.names, list(reversed(TABLE.names))):
        for client, module in ((http, triton_http), (grpc, triton_grpc)):
            result = client.infer("churn", _triton_inputs(module, order))  # binary / raw, by default
            assert text(result.as_numpy("label")) == want["label"], module.__name__
            np.testing.assert_allclose(result.as_numpy("probabilities"), want["probabilities"], atol=1e-6)
    with pytest.raises(triton_grpc.InferenceServerException, match=r"missing column\(s\) autopay"):
        grpc.infer("churn", _triton_inputs(triton_grpc, ["plan", "tenure", "region"]))


def test_unseen_categories_are_counted_per_column(running: Running) -> None:
    rows = [
        {**RECORDS[0], "plan": "enterprise"},
        {**RECORDS[1], "plan": "trial", "region": "apac"},
        RECORDS[2],
    ]
    v1(running, {"instances": rows})
    metrics = httpx.get(f"{running.url}/metrics", timeout=10).text
    counted = {
        line.split("column=")[1].split('"')[1]: float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("modelplane_unknown_categories_total{") and 'deployment="churn"' in line
    }
    assert counted == {"plan": 2.0, "region": 1.0}


def test_a_model_without_preprocessing_takes_its_columns_by_name(running: Running) -> None:
    matrix = {"inputs": [{"name": "input", "shape": [4, 4], "datatype": "FP32", "data": FLOWERS.tolist()}]}
    by_matrix = httpx.post(f"{running.url}/v2/models/flowers/infer", json=matrix, timeout=30).json()
    labels = next(o["data"] for o in by_matrix["outputs"] if o["name"] == "label")
    assert set(labels) <= set(CLASSES)
    records = [dict(reversed(list(zip(IRIS, row, strict=True)))) for row in FLOWERS.tolist()]
    assert [p["label"] for p in v1(running, {"instances": records}, name="flowers")["predictions"]] == labels
    per_column = {
        "inputs": [
            {"name": name, "shape": [4], "datatype": "FP64", "data": FLOWERS[:, j].tolist()}
            for j, name in reversed(list(enumerate(IRIS)))
        ]
    }
    answer = httpx.post(f"{running.url}/v2/models/flowers/infer", json=per_column, timeout=30).json()
    assert next(o["data"] for o in answer["outputs"] if o["name"] == "label") == labels
    gap = [{**records[0], IRIS[2]: None}]
    assert "'petal length (cm)' row 1 is missing" in v1(running, {"instances": gap}, 400, "flowers")["error"]


def test_local_predict_takes_dicts_columns_and_frames(trained: Local, running: Running) -> None:
    local = trained  # in-process: `running` has put the fakes in place for `Local` too
    table = local.predict("churn", RECORDS)
    assert table["label"].dtype.kind == "U" and table["label"].tolist() == expected()["label"]
    assert "unknown" not in table
    assert local.predict("churn", COLUMNS)["label"].tolist() == expected()["label"]
    flowers = local.predict("flowers", FLOWERS)
    assert local.predict("flowers", {name: FLOWERS[:, j] for j, name in enumerate(IRIS)})[
        "label"
    ].tolist() == (flowers["label"].tolist())
    with pytest.warns(UserWarning, match="ignored 1 column"):
        local.predict("churn", [{**row, "note": 1} for row in RECORDS])
    with pytest.raises(Invalid, match="does not read: note"):
        local.predict("churn", [{**row, "note": 1} for row in RECORDS], strict=True)
    with pytest.raises(Invalid, match="column 'tenure' row 2"):
        local.predict("churn", [RECORDS[0], {**RECORDS[1], "tenure": "long"}])
    with pytest.raises(Invalid, match="every row as a dict"):
        local.predict("churn", [RECORDS[0], 5])
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame(RECORDS)[list(reversed(TABLE.names))]
    assert local.predict("churn", frame)["label"].tolist() == expected()["label"]


def test_structured_rows_share_a_batch() -> None:
    """Table requests concatenate in the batcher like tensors: queued ones go as one runtime call."""
    runtime = TableRuntime()

    async def scenario() -> list[dict[str, np.ndarray]]:
        batcher = DynamicBatcher(runtime.predict, max_batch_size=64, metrics=ServingMetrics())
        values, _ = TABLE.values_from_records(RECORDS)
        rows = TABLE.rows(values)
        answers = await asyncio.gather(*(batcher.submit(rows[i : i + 1]) for i in range(3)))
        await batcher.close()
        return answers

    answers = asyncio.run(scenario())
    assert sum(runtime.batches) == 3 and len(runtime.batches) < 3
    assert [int(a["label"][0]) for a in answers] == [CLASSES.index(c) for c in expected()["label"]]


def test_datetimes_come_as_iso_text_or_epoch_seconds() -> None:
    pytest.importorskip("modelplane.tables.datetimes")  # the shared parser, from the ingest work
    table = TableSignature((Column("signup", "datetime"), Column("tenure", "numeric")))
    as_text = {
        "signup": np.array([b"2024-03-01T12:00:00Z", b""], dtype=object),
        "tenure": np.array([1.0, 2.0]),
    }
    as_epoch = {"signup": np.array([[1709294400.0], [np.nan]]), "tenure": np.array([1.0, 2.0])}
    text_rows, _ = rows_of(table, as_text, strict=False)
    epoch_rows, _ = rows_of(table, as_epoch, strict=False)
    np.testing.assert_array_equal(text_rows["datetime"], epoch_rows["datetime"])
    assert text_rows["datetime"][0, 0] == 1709294400.0 and np.isnan(text_rows["datetime"][1, 0])

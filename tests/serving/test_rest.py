"""The V2 REST app over real HTTP: tritonclient with default arguments, then raw JSON/binary with httpx."""

from __future__ import annotations

import contextlib
import gzip
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import ml_dtypes
import numpy as np
import orjson
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from modelplane.errors import DeadlineExceeded, ModelplaneError, Unavailable
from modelplane.serving.rest import create_rest_app
from modelplane.serving.types import InferRequest, InferResult, ModelMeta, TensorMeta
from tests.net import serve

from .fakes import StubService, tiny_classifier_onnx

ROWS = np.random.default_rng(0).random((3, 4), np.float32)
ECHO_META = ModelMeta(
    "echo", ("1",), "echo", (TensorMeta("x", "FP32", (-1,)),), (TensorMeta("x", "FP32", (-1,)),)
)


class FrontEndService(StubService):
    """The stub plus an `echo` model (outputs = inputs, any datatype) and switchable failure/readiness."""

    def __init__(self, onnx_path: Path) -> None:
        super().__init__(onnx_path)
        self.fail: Exception | None = None
        self.ready = True
        self.seen: list[InferRequest] = []

    def _check(self, model: str, version: str | None) -> None:
        if model != "echo":
            super()._check(model, version)

    def model_ready(self, model: str, version: str | None) -> bool:
        return super().model_ready(model, version) and self.ready

    def model_metadata(self, model: str, version: str | None) -> ModelMeta:
        return ECHO_META if model == "echo" else super().model_metadata(model, version)

    async def infer(self, request: InferRequest) -> InferResult:
        self.seen.append(request)
        if self.fail is not None:
            raise self.fail
        if request.model != "echo":
            return await super().infer(request)
        names = request.outputs or list(request.inputs)
        return InferResult("echo", "1", {n: request.inputs[n] for n in names}, request.id, {"echoed": True})


class FakeMetrics:
    def __init__(self) -> None:
        self.requests: list[tuple[Any, ...]] = []

    def observe_request(self, *args: Any) -> None:
        self.requests.append(args)

    def render(self) -> tuple[bytes, str]:
        return b"# fake metrics\n", "text/plain; version=0.0.4; charset=utf-8"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> FrontEndService:
    return FrontEndService(tiny_classifier_onnx(tmp_path_factory.mktemp("rest") / "tiny.onnx"))


@pytest.fixture(scope="module")
def metrics() -> FakeMetrics:
    return FakeMetrics()


@pytest.fixture(scope="module")
def address(service: FrontEndService, metrics: FakeMetrics) -> Iterator[str]:
    with serve(create_rest_app(service, metrics=metrics)) as address:
        yield address


@pytest.fixture(scope="module")
def small_address(service: FrontEndService) -> Iterator[str]:
    """A 2 KiB body limit, NaN/Inf allowed, no metrics."""
    with serve(create_rest_app(service, max_body_bytes=2048, nonfinite="allow")) as address:
        yield address


@pytest.fixture(scope="module")
def http(address: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://{address}") as client:
        yield client


@pytest.fixture(scope="module")
def client(address: str) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(address)  # default arguments, as a user would
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _healthy(service: FrontEndService) -> Iterator[None]:
    service.fail, service.ready = None, True
    yield
    service.fail, service.ready = None, True


def expected(service: FrontEndService, x: np.ndarray = ROWS) -> dict[str, np.ndarray]:
    return service.runtime.predict(x)


def v2(data: Any, shape: list[int] | None = None, datatype: str = "FP32", **extra: Any) -> dict[str, Any]:
    tensor = {"name": "input", "shape": shape or [3, 4], "datatype": datatype, "data": data}
    return {"inputs": [tensor], **extra}


def error_of(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    return str(response.json()["error"])


# --- tritonclient.http, default arguments ---------------------------------------------------------


def test_triton_health_and_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("tiny") and client.is_model_ready("tiny", "1")
    assert not client.is_model_ready("nope")
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    meta = client.get_model_metadata("tiny", "1")
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]
    assert [o["name"] for o in meta["outputs"]] == ["label", "probabilities"]


@pytest.mark.parametrize("binary_in", [True, False])
@pytest.mark.parametrize("outputs", [None, "binary", "json", "mixed"])
def test_triton_infer(
    client: triton.InferenceServerClient, service: FrontEndService, binary_in: bool, outputs: str | None
) -> None:
    inp = triton.InferInput("input", [3, 4], "FP32").set_data_from_numpy(ROWS, binary_data=binary_in)
    requested = {
        None: None,
        "binary": [triton.InferRequestedOutput("label"), triton.InferRequestedOutput("probabilities")],
        "json": [triton.InferRequestedOutput("probabilities", binary_data=False)],
        "mixed": [
            triton.InferRequestedOutput("label", binary_data=False),
            triton.InferRequestedOutput("probabilities", binary_data=True),
        ],
    }[outputs]
    result = client.infer("tiny", [inp], outputs=requested, request_id="req-7")
    want = expected(service)
    np.testing.assert_array_equal(result.as_numpy("probabilities"), want["probabilities"])
    if outputs != "json":
        np.testing.assert_array_equal(result.as_numpy("label"), want["label"])
    else:
        assert result.as_numpy("label") is None
    assert result.get_response()["id"] == "req-7"
    assert result.get_response()["model_version"] == "1"


def test_triton_version_and_parameters(
    client: triton.InferenceServerClient, service: FrontEndService
) -> None:
    inp = triton.InferInput("input", [3, 4], "FP32").set_data_from_numpy(ROWS)
    result = client.infer("tiny", [inp], model_version="1", parameters={"temperature": 2})
    np.testing.assert_array_equal(result.as_numpy("label"), expected(service)["label"])
    assert service.seen[-1].parameters == {"temperature": 2, "binary_data_output": True}
    with pytest.raises(InferenceServerException, match="no version 7") as caught:
        client.infer("tiny", [inp], model_version="7")
    assert caught.value.status() == "404"


def test_triton_errors_carry_the_server_message(client: triton.InferenceServerClient) -> None:
    inp = triton.InferInput("input", [3, 4], "FP32").set_data_from_numpy(ROWS)
    with pytest.raises(InferenceServerException, match="model 'nope' is not deployed") as caught:
        client.infer("nope", [inp])
    assert caught.value.status() == "404"
    with pytest.raises(InferenceServerException, match="not deployed"):
        client.get_model_metadata("nope")
    wide = triton.InferInput("input", [2, 5], "FP32").set_data_from_numpy(np.ones((2, 5), np.float32))
    with pytest.raises(InferenceServerException, match=r"input 'input' expects shape \[-1, 4\]") as caught:
        client.infer("tiny", [wide])
    assert caught.value.status() == "400"


def _sample(datatype: str) -> np.ndarray:
    if datatype == "BOOL":
        return np.array([[True, False, True], [False, False, True]])
    if datatype == "BYTES":
        return np.array([[b"a", b"", "é".encode()], [b"xyz", b"0", b"long text"]], dtype=object)
    dtype = np.dtype(triton_dtype(datatype))
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.array([[info.min, 0, 1], [info.max, 7, info.max - 1]], dtype=dtype)
    return np.array([[-1.5, 0.0, 0.25], [65504.0, 1e-3, 3.0]], dtype=dtype)


def triton_dtype(datatype: str) -> Any:
    from tritonclient.utils import triton_to_np_dtype

    return triton_to_np_dtype(datatype)


ALL_TYPES = ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64"]
ALL_TYPES += ["FP16", "FP32", "FP64", "BYTES"]


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("datatype", ALL_TYPES)
def test_triton_every_datatype_round_trips(
    client: triton.InferenceServerClient, datatype: str, binary: bool
) -> None:
    x = _sample(datatype)
    inp = triton.InferInput("x", list(x.shape), datatype).set_data_from_numpy(x, binary_data=binary)
    outputs = [triton.InferRequestedOutput("x", binary_data=binary)]
    got = client.infer("echo", [inp], outputs=outputs).as_numpy("x")
    assert got.shape == x.shape
    if datatype == "BYTES" and not binary:  # JSON carries text: the client hands back str
        x = np.vectorize(bytes.decode, otypes=[object])(x)
    np.testing.assert_array_equal(got, x)
    if datatype != "BYTES":
        assert got.dtype == x.dtype


def test_triton_bf16_is_widened_to_fp32(client: triton.InferenceServerClient) -> None:
    x = np.array([[1.5, -2.0, 0.0078125]], dtype=ml_dtypes.bfloat16)
    inp = triton.InferInput("x", [1, 3], "BF16").set_data_from_numpy(x)
    got = client.infer("echo", [inp]).as_numpy("x")
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, x.astype(np.float32))


def test_triton_gzip_request(address: str, service: FrontEndService) -> None:
    with contextlib.closing(triton.InferenceServerClient(address)) as client:
        inp = triton.InferInput("input", [3, 4], "FP32").set_data_from_numpy(ROWS)
        result = client.infer("tiny", [inp], request_compression_algorithm="gzip")
        np.testing.assert_array_equal(result.as_numpy("label"), expected(service)["label"])


# --- JSON over httpx -------------------------------------------------------------------------------


def test_health_and_metadata_routes(http: httpx.Client, service: FrontEndService) -> None:
    assert http.get("/v2/health/live").status_code == 200
    assert http.get("/v2/health/ready").json() == {"ready": True}
    assert http.get("/v2/models/tiny/versions/1/ready").status_code == 200
    assert http.get("/v2/models/tiny/versions/1").json()["inputs"][0]["shape"] == [-1, 4]
    assert "not deployed" in error_of(http.get("/v2/models/nope"), 404)
    assert "no version 9" in error_of(http.get("/v2/models/tiny/versions/9/ready"), 404)
    service.ready = False
    assert "not ready" in error_of(http.get("/v2/models/tiny/ready"), 503)


@pytest.mark.parametrize("nested", [True, False])
def test_json_infer_nested_and_flat(http: httpx.Client, service: FrontEndService, nested: bool) -> None:
    data = ROWS.tolist() if nested else ROWS.reshape(-1).tolist()
    response = http.post("/v2/models/tiny/infer", json=v2(data, id="abc"))
    assert response.status_code == 200 and "inference-header-content-length" not in response.headers
    body = response.json()
    assert body["model_name"] == "tiny" and body["model_version"] == "1" and body["id"] == "abc"
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["label"] == {"name": "label", "datatype": "INT64", "shape": [3], "data": [0, 0, 2]}
    probabilities = np.array(outputs["probabilities"]["data"], np.float32).reshape(
        outputs["probabilities"]["shape"]
    )
    np.testing.assert_array_equal(probabilities, expected(service)["probabilities"])


def test_outputs_selection_versions_and_parameters(http: httpx.Client, service: FrontEndService) -> None:
    body = v2(ROWS.tolist(), outputs=[{"name": "label"}], parameters={"priority": 1, "custom": "x"})
    response = http.post("/v2/models/tiny/versions/1/infer", json=body)
    assert [o["name"] for o in response.json()["outputs"]] == ["label"]
    assert service.seen[-1].parameters == {"priority": 1, "custom": "x"}
    assert service.seen[-1].version == "1"
    echoed = http.post(
        "/v2/models/echo/infer",
        json={"inputs": [{"name": "x", "shape": [2], "datatype": "INT32", "data": [1, 2]}]},
    )
    assert echoed.json()["parameters"] == {"echoed": True}
    assert "no version 2" in error_of(http.post("/v2/models/tiny/versions/2/infer", json=body), 404)
    unknown = v2(ROWS.tolist(), outputs=[{"name": "logits"}])
    assert "no output 'logits'" in error_of(http.post("/v2/models/tiny/infer", json=unknown), 400)


def test_binary_body_and_binary_outputs_by_hand(http: httpx.Client, service: FrontEndService) -> None:
    header = orjson.dumps(
        {
            "inputs": [
                {"name": "input", "shape": [3, 4], "datatype": "FP32", "parameters": {"binary_data_size": 48}}
            ],
            "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}],
        }
    )
    response = http.post(
        "/v2/models/tiny/infer",
        content=header + ROWS.tobytes(),
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
    assert response.status_code == 200
    split = int(response.headers["inference-header-content-length"])
    meta = orjson.loads(response.content[:split])
    assert meta["outputs"][0]["parameters"] == {"binary_data_size": 36}
    got = np.frombuffer(response.content[split:], np.float32).reshape(3, 3)
    np.testing.assert_array_equal(got, expected(service)["probabilities"])


def test_v1_predict(http: httpx.Client, service: FrontEndService) -> None:
    want = expected(service)
    for body in (
        {"instances": ROWS.tolist()},
        {"inputs": ROWS.tolist()},
        {"inputs": {"input": ROWS.tolist()}},
    ):
        predictions = http.post("/v1/predict/tiny", json=body).json()["predictions"]
        assert [p["label"] for p in predictions] == want["label"].tolist()
        np.testing.assert_array_equal(
            np.array([p["probabilities"] for p in predictions], np.float32), want["probabilities"]
        )
    ints = http.post("/v1/predict/tiny/versions/1", json={"instances": [[1, 2, 3, 4]]})
    assert ints.status_code == 200
    assert "numbers only" in error_of(
        http.post("/v1/predict/tiny", json={"instances": [["a", 1, 2, 3]]}), 400
    )
    assert "instances" in error_of(http.post("/v1/predict/tiny", json={"rows": [[1, 2, 3, 4]]}), 400)
    assert "same shape" in error_of(http.post("/v1/predict/tiny", json={"instances": [[1, 2], [3]]}), 400)
    assert "not deployed" in error_of(http.post("/v1/predict/nope", json={"instances": [[1, 2, 3, 4]]}), 404)


BAD_INPUTS: list[tuple[Any, str]] = [
    ("not json", "not valid JSON"),
    (b"[1, 2]", "must be a JSON object"),
    ({"inputs": []}, "'inputs'"),
    ({"inputs": [{"shape": [1], "datatype": "FP32", "data": [1]}]}, "string 'name'"),
    (v2([1.0] * 12, datatype="FP8"), "input 'input': unknown datatype 'FP8'"),
    (v2([1.0, 2.0, 3.0], shape=[1, 4]), "input 'input': shape [1, 4] needs 4 elements, got 3"),
    (v2([1.0] * 4, shape=[1, -4]), "input 'input': shape must be a list of non-negative integers"),
    ({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32"}]}, "neither 'data'"),
    (
        v2(["1", "2", "3", "4"], shape=[1, 4]),
        "input 'input' is FP32: data must hold numbers, got strings",
    ),
    (v2([[1, 2, 3, 4], [1, 2]], shape=[2, 4]), "input 'input': data is not a rectangular array"),
    (v2([1e39, 0, 0, 0], shape=[1, 4]), "input 'input' holds NaN or Inf"),
    (
        v2([1, 2, 3, 4.5], shape=[1, 4], datatype="INT64"),
        "input 'input' is INT64: data must hold integers",
    ),
    (v2([1, 2, 3, 2**40], shape=[1, 4], datatype="INT32"), "outside the INT32 range"),
    (v2([1, 0, 1, 0], shape=[1, 4], datatype="BOOL"), "must hold true/false"),
    (v2(ROWS.tolist(), id=5), "'id' must be a string"),
    (
        v2(ROWS.tolist(), outputs=[{"name": "label", "parameters": {"classification": 2}}]),
        "'classification'",
    ),
]


@pytest.mark.parametrize(("body", "message"), BAD_INPUTS)
def test_bad_json_inputs_are_400(http: httpx.Client, body: Any, message: str) -> None:
    content = body if isinstance(body, bytes | str) else orjson.dumps(body)
    assert message in error_of(http.post("/v2/models/tiny/infer", content=content), 400)


def _binary_request(
    size: int, payload: bytes, header_length: int | None = None
) -> tuple[bytes, dict[str, str]]:
    spec = {"name": "input", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": size}}
    header = orjson.dumps({"inputs": [spec]})
    return header + payload, {"Inference-Header-Content-Length": str(header_length or len(header))}


@pytest.mark.parametrize(
    ("size", "payload", "header_length", "message"),
    [
        (16, b"\0" * 12, None, "binary_data_size 16 runs past the end of the body (12 bytes left)"),
        (12, b"\0" * 12, None, "input 'input': shape [1, 4] of FP32 needs 16 bytes, got 12"),
        (
            16,
            b"\0" * 20,
            None,
            "20 bytes after the JSON header but the inputs' binary_data_size values add up to 16",
        ),
        (16, b"\0" * 16, 10_000, "Inference-Header-Content-Length is 10000"),
        (16, np.array([0, np.nan, 0, 0], np.float32).tobytes(), None, "input 'input' holds NaN or Inf"),
        (16, np.array([0, -np.inf, 0, 0], np.float32).tobytes(), None, "input 'input' holds NaN or Inf"),
    ],
)
def test_bad_binary_bodies_are_400(
    http: httpx.Client, size: int, payload: bytes, header_length: int | None, message: str
) -> None:
    content, headers = _binary_request(size, payload, header_length)
    assert message in error_of(http.post("/v2/models/tiny/infer", content=content, headers=headers), 400)


def test_binary_size_without_header_is_400(http: httpx.Client) -> None:
    content, _ = _binary_request(16, b"")
    assert "no Inference-Header-Content-Length" in error_of(
        http.post("/v2/models/tiny/infer", content=content), 400
    )


def test_nonfinite_allowed_when_configured(small_address: str) -> None:
    x = np.array([np.nan, np.inf, 1.0], np.float32)
    header = orjson.dumps(
        {
            "inputs": [
                {"name": "x", "shape": [3], "datatype": "FP32", "parameters": {"binary_data_size": 12}}
            ],
            "parameters": {"binary_data_output": True},
        }
    )
    response = httpx.post(
        f"http://{small_address}/v2/models/echo/infer",
        content=header + x.tobytes(),
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
    split = int(response.headers["inference-header-content-length"])
    np.testing.assert_array_equal(np.frombuffer(response.content[split:], np.float32), x)


def test_body_over_the_limit_is_413(small_address: str) -> None:
    url = f"http://{small_address}/v2/models/tiny/infer"
    big = orjson.dumps(v2([0.5] * 4000, shape=[1000, 4]))
    assert "2048-byte limit" in error_of(httpx.post(url, content=big), 413)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while reading
        for start in range(0, len(big), 512):
            yield big[start : start + 512]

    assert "2048-byte limit" in error_of(httpx.post(url, content=chunks()), 413)
    bomb = gzip.compress(b" " * 100_000)
    assert "2048-byte limit" in error_of(
        httpx.post(url, content=bomb, headers={"Content-Encoding": "gzip"}), 413
    )
    assert (
        error_of(httpx.get(f"http://{small_address}/metrics"), 404)
        == "metrics are not enabled on this server"
    )


def test_wrong_methods_and_paths(http: httpx.Client) -> None:
    response = http.get("/v2/models/tiny/infer")
    assert "use POST" in error_of(response, 405) and response.headers["allow"] == "POST"
    assert "use GET" in error_of(http.post("/v2/health/live"), 405)
    assert "no route /nope" in error_of(http.get("/nope"), 404)
    assert "no route" in error_of(http.get("/v2/models/tiny/bogus"), 404)
    assert "no route" in error_of(http.get("/v2/models//ready"), 404)


@pytest.mark.parametrize(
    ("failure", "status", "message"),
    [
        (Unavailable("the queue for 'tiny' is full", retry_after=2.5), 503, "the queue for 'tiny' is full"),
        (DeadlineExceeded("timed out after 50 ms in the queue"), 504, "timed out after 50 ms"),
        (ModelplaneError("the runtime crashed on this batch"), 500, "the runtime crashed on this batch"),
        (RuntimeError("boom"), 500, "internal error serving model 'tiny': RuntimeError: boom"),
    ],
)
def test_service_failures_map_to_status(
    http: httpx.Client,
    client: triton.InferenceServerClient,
    service: FrontEndService,
    caplog: pytest.LogCaptureFixture,
    failure: Exception,
    status: int,
    message: str,
) -> None:
    service.fail = failure
    response = http.post("/v2/models/tiny/infer", json=v2(ROWS.tolist()))
    assert message in error_of(response, status)
    if status == 503:
        assert response.headers["retry-after"] == "3"
    if status == 500:
        assert "tiny" in caplog.text  # a 500 is always logged
    inp = triton.InferInput("input", [3, 4], "FP32").set_data_from_numpy(ROWS)
    with pytest.raises(InferenceServerException, match=message.split(":")[0]) as caught:
        client.infer("tiny", [inp])
    assert caught.value.status() == str(status)


def test_metrics_route_and_observations(http: httpx.Client, metrics: FakeMetrics) -> None:
    response = http.get("/metrics")
    assert response.text == "# fake metrics\n" and response.headers["content-type"].startswith("text/plain")
    metrics.requests.clear()
    http.post("/v2/models/tiny/infer", json=v2(ROWS.tolist()))
    http.post("/v2/models/tiny/infer", content=b"oops")
    http.post("/v2/models/made-up-name/infer", json=v2(ROWS.tolist()))
    http.post("/v1/predict/tiny", json={"instances": ROWS[:2].tolist()})
    labels = [(d, v, p, s, n) for d, v, p, s, _seconds, n in metrics.requests]
    assert labels == [
        ("tiny", "1", "rest", 200, 3),
        ("tiny", "", "rest", 400, 0),  # a known deployment keeps its name, the version is unknown
        ("", "", "rest", 404, 0),  # made-up names never become label values
        ("tiny", "1", "rest", 200, 2),
    ]
    assert all(seconds > 0 for *_, seconds, _n in metrics.requests)


def test_bytes_sizes_are_checked(http: httpx.Client) -> None:
    element = struct.pack("<I", 5) + b"abc"  # claims 5 bytes, carries 3
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [1],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(element)},
                }
            ]
        }
    )
    response = http.post(
        "/v2/models/echo/infer",
        content=header + element,
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
    assert "input 'x': BYTES element 0 claims 5 bytes past the end" in error_of(response, 400)

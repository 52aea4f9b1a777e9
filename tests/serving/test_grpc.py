"""The gRPC front end against a real server on a free port, spoken to by the standard tritonclient."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import grpc
import numpy as np
import pytest
import tritonclient.grpc as tc
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc
from tritonclient.utils import InferenceServerException

from modelplane.errors import Conflict, Invalid, ModelplaneError, Unavailable
from modelplane.serving.codec import encode_raw
from modelplane.serving.grpc_codec import (
    CONTENTS_FIELD,
    decode_contents,
    decode_request,
    encode_response,
    parameters_of,
)
from modelplane.serving.grpc_server import start_grpc_server
from modelplane.serving.types import DATATYPES, InferRequest, InferResult
from tests.serving.fakes import StubService, tiny_classifier_onnx

T = TypeVar("T")
X = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)


class FlakyService(StubService):
    """Raises the error a request's `raise` parameter names, and echoes parameters back."""

    async def infer(self, request: InferRequest) -> InferResult:
        kind = request.parameters.get("raise")
        if kind == "unavailable":
            raise Unavailable("queue full", retry_after=2.5)
        if kind == "crash":
            raise ModelplaneError("the runtime crashed on this batch")
        if kind == "bug":
            raise KeyError("oops")
        if kind == "slow":
            await asyncio.sleep(5)
        result = await super().infer(request)
        result.parameters = dict(request.parameters)
        return result


class FakeMetrics:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str, str, int]] = []

    def observe_request(
        self, deployment: str, version: str, protocol: str, status: str, seconds: float, samples: int
    ) -> None:
        assert seconds >= 0
        self.requests.append((deployment, version, protocol, status, samples))


class Served:
    """A grpc.aio server on its own event loop thread, so the synchronous client can call it."""

    def __init__(self, service: StubService, metrics: FakeMetrics, **options: Any) -> None:
        self.service, self.metrics = service, metrics
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server, self.port = self.run(start_grpc_server(service, metrics=metrics, **options))
        self.url = f"127.0.0.1:{self.port}"

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=20)

    def close(self) -> None:
        self.run(self.server.stop(grace=None))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_classifier_onnx(tmp_path_factory.mktemp("grpc") / "tiny.onnx")


@pytest.fixture(scope="module")
def served(onnx_path: Path) -> Iterator[Served]:
    server = Served(FlakyService(onnx_path), FakeMetrics())
    yield server
    server.close()


@pytest.fixture(scope="module")
def client(served: Served) -> Iterator[tc.InferenceServerClient]:
    with tc.InferenceServerClient(served.url) as c:
        yield c


@pytest.fixture(scope="module")
def stub(served: Served) -> Iterator[Any]:
    with grpc.insecure_channel(served.url) as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel)


def infer_input(x: np.ndarray, name: str = "input", datatype: str = "FP32") -> tc.InferInput:
    tensor = tc.InferInput(name, list(x.shape), datatype)
    tensor.set_data_from_numpy(x)
    return tensor


def assert_still_serving(client: tc.InferenceServerClient) -> None:
    assert client.infer("tiny", [infer_input(X)]).as_numpy("label").shape == (2,)


def test_health_and_metadata(client: tc.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("tiny")
    assert client.is_model_ready("tiny", "1")
    assert not client.is_model_ready("nope")
    server = client.get_server_metadata()
    assert server.name == "modelplane"
    assert "binary_tensor_data" not in server.extensions
    meta = client.get_model_metadata("tiny")
    assert meta.name == "tiny" and list(meta.versions) == ["1"]
    assert [(t.name, t.datatype, list(t.shape)) for t in meta.inputs] == [("input", "FP32", [-1, 4])]
    assert [(t.name, t.datatype, list(t.shape)) for t in meta.outputs] == [
        ("label", "INT64", [-1]),
        ("probabilities", "FP32", [-1, 3]),
    ]


def test_infer_matches_the_runtime(client: tc.InferenceServerClient, served: Served) -> None:
    expected = served.service.runtime.predict(X)
    result = client.infer("tiny", [infer_input(X)], request_id="req-7")
    response = result.get_response()
    assert response.id == "req-7" and response.model_name == "tiny" and response.model_version == "1"
    assert [o.name for o in response.outputs] == ["label", "probabilities"]
    np.testing.assert_array_equal(result.as_numpy("label"), expected["label"])
    np.testing.assert_array_equal(result.as_numpy("probabilities"), expected["probabilities"])
    assert result.as_numpy("probabilities").dtype == np.float32


def test_output_selection_and_parameters(client: tc.InferenceServerClient, served: Served) -> None:
    expected = served.service.runtime.predict(X)
    result = client.infer(
        "tiny",
        [infer_input(X)],
        model_version="1",
        outputs=[tc.InferRequestedOutput("probabilities")],
        parameters={"flag": True, "count": 3, "ratio": 0.5, "tag": "a"},
    )
    assert [o.name for o in result.get_response().outputs] == ["probabilities"]
    assert result.as_numpy("label") is None
    np.testing.assert_array_equal(result.as_numpy("probabilities"), expected["probabilities"])
    echoed = parameters_of(result.get_response().parameters)
    assert echoed == {"flag": True, "count": 3, "ratio": 0.5, "tag": "a"}


def test_typed_contents_request(stub: Any, served: Served) -> None:
    request = pb.ModelInferRequest(model_name="tiny", id="typed")
    tensor = request.inputs.add(name="input", datatype="FP32", shape=[2, 4])
    tensor.contents.fp32_contents.extend(X.reshape(-1).tolist())
    response = stub.ModelInfer(request, timeout=10)
    assert response.id == "typed" and len(response.raw_output_contents) == 2
    labels = np.frombuffer(response.raw_output_contents[0], dtype="<i8")
    np.testing.assert_array_equal(labels, served.service.runtime.predict(X)["label"])


def test_metrics_are_recorded(client: tc.InferenceServerClient, served: Served) -> None:
    served.metrics.requests.clear()
    client.infer("tiny", [infer_input(X)])
    with pytest.raises(InferenceServerException):
        client.infer("ghost", [infer_input(X)])
    with pytest.raises(InferenceServerException):
        client.infer("tiny", [infer_input(X[:, :3])])
    assert served.metrics.requests == [
        ("tiny", "1", "grpc", "OK", 2),
        ("", "", "grpc", "NOT_FOUND", 0),  # unknown names share one label
        ("tiny", "", "grpc", "INVALID_ARGUMENT", 0),
    ]


def test_client_deadline_cancels_and_is_recorded(client: tc.InferenceServerClient, served: Served) -> None:
    assert_still_serving(client)  # "tiny" has answered once, so its failures keep its label
    served.metrics.requests.clear()
    with pytest.raises(InferenceServerException) as exc:
        client.infer("tiny", [infer_input(X)], parameters={"raise": "slow"}, client_timeout=0.2)
    assert str(exc.value.status()) == "StatusCode.DEADLINE_EXCEEDED"
    deadline = time.monotonic() + 3
    while not served.metrics.requests and time.monotonic() < deadline:
        time.sleep(0.02)
    assert served.metrics.requests == [("tiny", "", "grpc", "CANCELLED", 0)]
    assert_still_serving(client)


def _status(exc: pytest.ExceptionInfo[InferenceServerException]) -> str:
    return str(exc.value.status())


@pytest.mark.parametrize(
    ("call", "status", "words"),
    [
        (lambda c: c.infer("ghost", [infer_input(X)]), "NOT_FOUND", ["ghost"]),
        (lambda c: c.get_model_metadata("ghost"), "NOT_FOUND", ["ghost"]),
        (lambda c: c.infer("tiny", [infer_input(X[:, :3])]), "INVALID_ARGUMENT", ["'input'", "[2, 3]"]),
        (lambda c: c.infer("tiny", [infer_input(X, name="x")]), "INVALID_ARGUMENT", ["'input'", "'x'"]),
        (
            lambda c: c.infer("tiny", [infer_input(np.array([[np.nan, 1, 2, 3]], np.float32))]),
            "INVALID_ARGUMENT",
            ["'input'", "NaN"],
        ),
        (
            lambda c: c.infer("tiny", [infer_input(X)], parameters={"raise": "unavailable"}),
            "UNAVAILABLE",
            ["queue full"],
        ),
        (
            lambda c: c.infer("tiny", [infer_input(X)], parameters={"raise": "crash"}),
            "INTERNAL",
            ["runtime crashed"],
        ),
        (
            lambda c: c.infer("tiny", [infer_input(X)], parameters={"raise": "bug"}),
            "INTERNAL",
            ["KeyError"],
        ),
        (lambda c: c.get_model_config("tiny"), "UNIMPLEMENTED", ["ModelConfig"]),
        (lambda c: c.get_inference_statistics("tiny"), "UNIMPLEMENTED", ["ModelStatistics"]),
        (lambda c: c.get_model_repository_index(), "UNIMPLEMENTED", ["RepositoryIndex"]),
    ],
)
def test_errors_keep_their_status(
    client: tc.InferenceServerClient,
    caplog: pytest.LogCaptureFixture,
    call: Any,
    status: str,
    words: list[str],
) -> None:
    with pytest.raises(InferenceServerException) as exc:
        call(client)
    assert _status(exc) == f"StatusCode.{status}"
    for word in words:
        assert word in exc.value.message()
    logged = [
        r for r in caplog.records if r.name == "modelplane.serving.grpc_server" and r.levelname == "ERROR"
    ]
    assert bool(logged) == (status == "INTERNAL")  # server faults are logged; client mistakes are not
    assert_still_serving(client)


def test_wrong_byte_count_names_the_input(stub: Any, client: tc.InferenceServerClient) -> None:
    request = pb.ModelInferRequest(model_name="tiny", raw_input_contents=[X.tobytes()[:-4]])
    request.inputs.add(name="input", datatype="FP32", shape=[2, 4])
    with pytest.raises(grpc.RpcError) as exc:
        stub.ModelInfer(request, timeout=10)
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'input'" in exc.value.details() and "32" in exc.value.details() and "28" in exc.value.details()
    assert_still_serving(client)


def test_unavailable_carries_retry_after(stub: Any) -> None:
    request = pb.ModelInferRequest(model_name="tiny", raw_input_contents=[X.tobytes()])
    request.inputs.add(name="input", datatype="FP32", shape=[2, 4])
    request.parameters["raise"].string_param = "unavailable"
    with pytest.raises(grpc.RpcError) as exc:
        stub.ModelInfer(request, timeout=10)
    assert exc.value.code() == grpc.StatusCode.UNAVAILABLE
    assert ("retry-after", "3") in tuple(exc.value.trailing_metadata())


def test_stream_infer_is_unimplemented(stub: Any) -> None:
    with pytest.raises(grpc.RpcError) as exc:
        list(stub.ModelStreamInfer(iter([pb.ModelInferRequest(model_name="tiny")]), timeout=10))
    assert exc.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_message_limit_and_port_conflict(onnx_path: Path, served: Served) -> None:
    small = Served(StubService(onnx_path), FakeMetrics(), max_message_bytes=1024)
    try:
        with tc.InferenceServerClient(small.url) as c:
            assert c.infer("tiny", [infer_input(X)]).as_numpy("label").shape == (2,)
            with pytest.raises(InferenceServerException) as exc:
                c.infer("tiny", [infer_input(np.zeros((100, 4), np.float32))])
            assert _status(exc) == "StatusCode.RESOURCE_EXHAUSTED"
        with pytest.raises(Conflict, match=str(served.port)):
            small.run(start_grpc_server(small.service, port=served.port))
    finally:
        small.close()


class RequireKey(grpc.aio.ServerInterceptor):
    """The shape API-key auth will take: metadata checked before any servicer method runs."""

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        if ("x-api-key", "secret") in tuple(details.invocation_metadata or ()):
            return await continuation(details)

        async def refuse(request: Any, context: grpc.aio.ServicerContext) -> None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "send a valid x-api-key")

        return grpc.unary_unary_rpc_method_handler(refuse)


def test_interceptor_sees_metadata_first(onnx_path: Path) -> None:
    guarded = Served(StubService(onnx_path), FakeMetrics(), interceptors=[RequireKey()])
    try:
        with tc.InferenceServerClient(guarded.url) as c:
            with pytest.raises(InferenceServerException) as exc:
                c.infer("tiny", [infer_input(X)])
            assert _status(exc) == "StatusCode.UNAUTHENTICATED"
            result = c.infer("tiny", [infer_input(X)], headers={"x-api-key": "secret"})
            assert result.as_numpy("label").shape == (2,)
    finally:
        guarded.close()


# --- codec, directly: every datatype, raw and typed -------------------------------------------------

SAMPLES: dict[str, np.ndarray] = {
    name: (
        np.array([[True, False, True], [False, True, True]])
        if name == "BOOL"
        else np.array([[b"a", b""], [b"\x00\xff", "é".encode()]], dtype=object)
        if name == "BYTES"
        else np.arange(6, dtype=dtype).reshape(2, 3)
    )
    for name, dtype in DATATYPES.items()
}


def _request(name: str, array: np.ndarray, *, typed: bool) -> Any:
    request = pb.ModelInferRequest(model_name="m", model_version="2", id="r")
    tensor = request.inputs.add(name="t", datatype=name, shape=array.shape)
    if typed:
        getattr(tensor.contents, CONTENTS_FIELD[name]).extend(array.reshape(-1).tolist())
    else:
        request.raw_input_contents.append(encode_raw(array, name))
    return pb.ModelInferRequest.FromString(request.SerializeToString())  # as it arrives off the wire


@pytest.mark.parametrize("datatype", list(DATATYPES))
def test_raw_round_trip_every_datatype(datatype: str) -> None:
    array = SAMPLES[datatype]
    decoded = decode_request(_request(datatype, array, typed=False))
    assert decoded.model == "m" and decoded.version == "2" and decoded.id == "r"
    got = decoded.inputs["t"]
    assert got.dtype == DATATYPES[datatype] and got.shape == array.shape
    np.testing.assert_array_equal(got, array)
    response = encode_response(InferResult(model="m", version="2", outputs={"out": got}), "r")
    response = pb.ModelInferResponse.FromString(response.SerializeToString())
    assert response.outputs[0].datatype == datatype and list(response.outputs[0].shape) == [
        2,
        *array.shape[1:],
    ]
    result = tc.InferResult(response)
    np.testing.assert_array_equal(result.as_numpy("out"), array)


@pytest.mark.parametrize("datatype", [d for d in DATATYPES if d != "FP16"])
def test_typed_contents_every_datatype(datatype: str) -> None:
    array = SAMPLES[datatype]
    got = decode_request(_request(datatype, array, typed=True)).inputs["t"]
    assert got.dtype == DATATYPES[datatype] and got.shape == array.shape
    np.testing.assert_array_equal(got, array)


def test_typed_contents_refusals() -> None:
    contents = pb.InferTensorContents(int_contents=[1, 300])
    with pytest.raises(Invalid, match=r"'t'.*INT8 range"):
        decode_contents("t", "INT8", (2,), contents)
    with pytest.raises(Invalid, match=r"'t'.*needs 3 elements in contents.int_contents, got 2"):
        decode_contents("t", "INT32", (3,), contents)
    with pytest.raises(Invalid, match=r"'t'.*raw_input_contents"):
        decode_contents("t", "FP16", (2,), contents)
    with pytest.raises(Invalid, match=r"'t'.*NaN"):
        decode_contents("t", "FP64", (1,), pb.InferTensorContents(fp64_contents=[float("inf")]))
    allowed = decode_contents(
        "t", "FP64", (1,), pb.InferTensorContents(fp64_contents=[float("inf")]), "allow"
    )
    assert np.isinf(allowed).all()


def test_request_refusals() -> None:
    both = _request("FP32", SAMPLES["FP32"], typed=False)
    both.inputs[0].contents.fp32_contents.extend([1.0])
    with pytest.raises(Invalid, match="both typed contents and raw"):
        decode_request(both)
    missing = _request("FP32", SAMPLES["FP32"], typed=False)
    missing.inputs.add(name="u", datatype="FP32", shape=[1])
    with pytest.raises(Invalid, match="2 inputs"):
        decode_request(missing)
    with pytest.raises(Invalid, match="no inputs"):
        decode_request(pb.ModelInferRequest(model_name="m"))
    unknown = _request("FP32", SAMPLES["FP32"], typed=False)
    unknown.inputs[0].datatype = "FP8"
    with pytest.raises(Invalid, match=r"'t'.*unknown datatype"):
        decode_request(unknown)
    negative = _request("FP32", SAMPLES["FP32"], typed=False)
    negative.inputs[0].shape[0] = -1
    with pytest.raises(Invalid, match=r"'t'.*shape"):
        decode_request(negative)


def test_parameters_both_ways() -> None:
    values = {"b": True, "i": -3, "u": 2**64 - 1, "d": 0.25, "s": "x"}
    response = encode_response(InferResult(model="m", version="1", outputs={}, parameters=values), None)
    assert parameters_of(response.parameters) == values
    assert response.parameters["b"].WhichOneof("parameter_choice") == "bool_param"
    assert response.parameters["u"].WhichOneof("parameter_choice") == "uint64_param"

"""The V2 tensor codec and the HTTP body helpers, without a server."""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np
import orjson
import pytest
from tritonclient.utils import serialize_byte_tensor

from modelplane.errors import Invalid
from modelplane.serving.codec import (
    check_datatype,
    check_shape,
    decode_json,
    decode_raw,
    deserialize_bytes,
    encode_raw,
    json_data,
    output_datatype,
)
from modelplane.serving.rest import route
from modelplane.serving.rest_v1 import encode_predict
from modelplane.serving.rest_v2 import OutputFormat, decode_infer, encode_infer
from modelplane.serving.types import DATATYPES, InferResult

NUMERIC = [name for name in DATATYPES if name != "BYTES"]


def sample(datatype: str) -> np.ndarray:
    dtype = DATATYPES[datatype]
    if datatype == "BOOL":
        return np.array([[True, False], [False, True]])
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.array([[info.min, 0], [1, info.max]], dtype=dtype)
    return np.array([[-1.5, 0.0], [0.25, 1000.0]], dtype=dtype)


@pytest.mark.parametrize("datatype", NUMERIC)
@pytest.mark.parametrize("nested", [True, False])
def test_json_round_trip_every_numeric_datatype(datatype: str, nested: bool) -> None:
    x = sample(datatype)
    data = x.tolist() if nested else x.reshape(-1).tolist()
    got = decode_json("t", datatype, (2, 2), data)
    assert got.dtype == DATATYPES[datatype] and got.shape == (2, 2)
    np.testing.assert_array_equal(got, x)
    back = orjson.loads(orjson.dumps(json_data("t", got, datatype), option=orjson.OPT_SERIALIZE_NUMPY))
    np.testing.assert_array_equal(np.array(back, dtype=x.dtype).reshape(2, 2), x)


@pytest.mark.parametrize("datatype", [*NUMERIC, "BYTES"])
def test_raw_round_trip_every_datatype(datatype: str) -> None:
    if datatype == "BYTES":
        x = np.array([[b"a", b""], ["é".encode(), b"\x00\xff"]], dtype=object)
    else:
        x = sample(datatype)
    raw = encode_raw(x, datatype)
    got = decode_raw("t", datatype, (2, 2), raw)
    np.testing.assert_array_equal(got, x)
    assert got.dtype == x.dtype


def test_scalars_and_empty_tensors() -> None:
    assert decode_json("t", "FP32", (), 2.5).shape == ()
    empty = decode_json("t", "INT32", (0, 4), [])
    assert empty.shape == (0, 4) and empty.dtype == np.int32
    assert decode_raw("t", "FP32", (0, 4), b"").shape == (0, 4)


def test_integers_are_exact_and_range_checked() -> None:
    big = decode_json("t", "UINT64", (3,), [0, 2**64 - 1, 5])  # numpy alone would parse float64
    assert big.tolist() == [0, 2**64 - 1, 5]
    assert decode_json("t", "INT64", (2,), [-(2**63), 2**63 - 1]).tolist() == [-(2**63), 2**63 - 1]
    with pytest.raises(Invalid, match=r"input 't': a value is outside the INT8 range \[-128, 127\]"):
        decode_json("t", "INT8", (2,), [1, 128])
    with pytest.raises(Invalid, match="outside the UINT8 range"):
        decode_json("t", "UINT8", (1,), [-1])
    with pytest.raises(Invalid, match="UINT64: data must hold integers"):
        decode_json("t", "UINT64", (2,), [2**64 - 1, 0.5])
    with pytest.raises(Invalid, match="BOOL: data must hold true/false, got numbers"):
        decode_json("t", "BOOL", (2,), [0, 1])


def test_json_refusals_name_the_input() -> None:
    with pytest.raises(Invalid, match=r"input 'x': shape \[2, 2\] needs 4 elements, got 5"):
        decode_json("x", "FP32", (2, 2), [1, 2, 3, 4, 5])
    with pytest.raises(Invalid, match="input 'x' is FP64: data must hold numbers, got strings"):
        decode_json("x", "FP64", (2,), ["1", "2"])
    with pytest.raises(Invalid, match="got mixed or null values"):
        decode_json("x", "FP32", (2,), [1.0, None])
    with pytest.raises(Invalid, match="input 'x': data is not a rectangular array"):
        decode_json("x", "FP32", (2, 2), [[1, 2], [3]])
    with pytest.raises(Invalid, match="input 'x' is BYTES: JSON data must hold strings, got int"):
        decode_json("x", "BYTES", (2,), ["a", 1])
    with pytest.raises(Invalid, match=r"input 'x': shape \[3\] needs 3 elements, got 2"):
        decode_json("x", "BYTES", (3,), [["a"], ["b"]])
    assert decode_json("x", "BYTES", (2, 1), [["a"], ["é"]]).tolist() == [[b"a"], ["é".encode()]]


def test_nonfinite_policy() -> None:
    with pytest.raises(Invalid, match="input 'x' holds NaN or Inf"):
        decode_json("x", "FP16", (1,), [70000.0])  # overflows FP16
    assert np.isinf(decode_json("x", "FP16", (1,), [70000.0], nonfinite="allow")).all()
    nan = np.array([np.nan], np.float64).tobytes()
    with pytest.raises(Invalid, match="input 'x' holds NaN or Inf"):
        decode_raw("x", "FP64", (1,), nan)
    assert np.isnan(decode_raw("x", "FP64", (1,), nan, nonfinite="allow")).all()
    assert decode_raw("x", "INT32", (1,), b"\xff\xff\xff\x7f")[0] == 2**31 - 1  # integers: nothing to check


def test_raw_views_sizes_alignment_and_bool() -> None:
    body = bytearray(b"\0" + np.arange(4, dtype=np.float32).tobytes())
    unaligned = decode_raw("x", "FP32", (4,), memoryview(body)[1:])
    assert unaligned.flags.aligned and unaligned.tolist() == [0, 1, 2, 3]
    aligned_body = bytearray(np.arange(4, dtype=np.float32).tobytes())
    view = decode_raw("x", "FP32", (2, 2), aligned_body)
    assert np.shares_memory(view, np.frombuffer(aligned_body, np.uint8))  # zero copy
    with pytest.raises(Invalid, match=r"input 'x': shape \[2, 2\] of FP32 needs 16 bytes, got 12"):
        decode_raw("x", "FP32", (2, 2), bytes(12))
    assert decode_raw("x", "BOOL", (3,), b"\x00\x02\x01").tolist() == [False, True, True]


def test_bf16_in_and_out() -> None:
    x = np.array([1.5, -2.0, 3.0e38, 0.0078125], dtype=ml_dtypes.bfloat16)
    widened = decode_raw("x", "BF16", (2, 2), x.tobytes())
    assert widened.dtype == np.float32
    np.testing.assert_array_equal(widened.reshape(-1), x.astype(np.float32))
    assert decode_json("x", "BF16", (1,), [1.5]).dtype == np.float32
    with pytest.raises(Invalid, match="of BF16 needs 8 bytes, got 6"):
        decode_raw("x", "BF16", (4,), bytes(6))
    assert output_datatype(x) == "BF16"
    assert encode_raw(x, "BF16") == x.tobytes()
    assert json_data("y", x, "BF16").tolist() == x.astype(np.float32).tolist()


def test_bytes_wire_format_matches_tritonclient() -> None:
    x = np.array([b"one", b"", b"three"], dtype=object)
    wire = serialize_byte_tensor(x).item()
    assert encode_raw(x, "BYTES") == wire
    assert deserialize_bytes("s", wire, 3).tolist() == [b"one", b"", b"three"]
    with pytest.raises(Invalid, match="input 's': BYTES data ends after 2 of 3 elements"):
        deserialize_bytes("s", wire[:13], 3)
    with pytest.raises(
        Invalid, match="input 's': 10000000000 BYTES elements need at least 40000000000 bytes"
    ):
        deserialize_bytes("s", wire, 10**10)
    with pytest.raises(Invalid, match="input 's': 2 BYTES elements take 11 bytes but 20 were sent"):
        deserialize_bytes("s", wire, 2)
    text = np.array(["a", "bé"])  # numpy str arrays travel as BYTES
    assert output_datatype(text) == "BYTES"
    assert decode_raw("s", "BYTES", (2,), encode_raw(text, "BYTES")).tolist() == [b"a", "bé".encode()]


def test_output_rules() -> None:
    with pytest.raises(Invalid, match="output 'y' holds bytes that are not UTF-8"):
        json_data("y", np.array([b"\xff"], dtype=object), "BYTES")
    with pytest.raises(TypeError, match="no V2 datatype"):
        output_datatype(np.zeros(2, np.complex64))
    assert json_data("y", np.arange(6).reshape(2, 3).T, "INT64").flags.c_contiguous


@pytest.mark.parametrize("shape", [[1, True], [-1, 4], "4", [1.0], None])
def test_bad_shapes(shape: Any) -> None:
    with pytest.raises(Invalid, match="input 'x': shape must be a list of non-negative integers"):
        check_shape("x", shape)


def test_absurd_shapes_are_refused_not_crashed() -> None:
    with pytest.raises(Invalid, match=r"input 'x': shape .* is too large"):
        check_shape("x", [0, 2**62])
    assert check_shape("x", [0, 2**40]) == (0, 2**40)
    assert decode_raw("x", "FP32", (0, 2**40), b"").shape == (0, 2**40)


def test_datatype_names() -> None:
    assert check_datatype("x", "BF16") == "BF16"
    with pytest.raises(Invalid, match="input 'x': unknown datatype 'fp32'"):
        check_datatype("x", "fp32")
    with pytest.raises(Invalid, match=r"input 'x': unknown datatype \['FP32'\]"):
        check_datatype("x", ["FP32"])


def test_routes() -> None:
    assert route("/v2/health/live") == ("live", "", None)
    assert route("/v2") == ("server", "", None)
    assert route("/v2/models/m") == ("model", "m", None)
    assert route("/v2/models/m/versions/3") == ("model", "m", "3")
    assert route("/v2/models/m/versions/3/infer") == ("infer", "m", "3")
    assert route("/v2/models/m/ready") == ("model_ready", "m", None)
    assert route("/v2/models/versions/infer") == ("infer", "versions", None)
    assert route("/v1/predict/m") == ("predict", "m", None)
    assert route("/v1/predict/m/versions/2") == ("predict", "m", "2")
    assert route("/v2/models/m/versions/2/stats") == ("stats", "m", "2")
    assert route("/v2/models/stats") == ("stats", "", None)
    assert route("/v2/models/m/config") == ("config", "m", None)
    assert route("/v2/repository/index") == ("repository_index", "", None)
    assert route("/v2/repository/models/m/unload") == ("unload", "m", None)
    for missing in (
        "/v2/models/",
        "/v2/models/m/versions//infer",
        "/v2/models/m/statistics",
        "/v2/repository/models/m",
        "/v2/repository/models//load",
        "/v1/predict/m/x",
        "/v3",
    ):
        assert route(missing) is None


def test_binary_header_split_and_output_choices() -> None:
    header = orjson.dumps(
        {
            "id": "r1",
            "inputs": [
                {"name": "a", "shape": [2], "datatype": "INT32", "parameters": {"binary_data_size": 8}},
                {"name": "b", "shape": [1], "datatype": "FP32", "data": [0.5]},
                {"name": "c", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 6}},
            ],
            "outputs": [{"name": "a", "parameters": {"binary_data": False}}, {"name": "b"}],
            "parameters": {"binary_data_output": True},
        }
    )
    body = header + np.array([7, 8], np.int32).tobytes() + b"\x02\x00\x00\x00hi"
    request, fmt = decode_infer("m", None, body, len(header), "reject")
    assert request.inputs["a"].tolist() == [7, 8] and request.inputs["c"].tolist() == [b"hi"]
    assert request.outputs == ["a", "b"] and request.id == "r1"
    result = InferResult("m", "2", {"a": request.inputs["a"], "b": request.inputs["b"]})
    out, json_length = encode_infer(result, request.id, fmt)
    assert json_length is not None
    meta = orjson.loads(out[:json_length])
    assert meta["id"] == "r1" and meta["model_version"] == "2"
    assert meta["outputs"][0] == {"name": "a", "datatype": "INT32", "shape": [2], "data": [7, 8]}
    assert meta["outputs"][1]["parameters"] == {"binary_data_size": 4}
    assert np.frombuffer(out[json_length:], np.float32).tolist() == [0.5]
    json_only, none = encode_infer(result, None, OutputFormat())
    assert none is None and "id" not in orjson.loads(json_only)


def test_v1_predictions_by_task() -> None:
    classifier = InferResult(
        "m", "1", {"label": np.array([1, 0]), "probabilities": np.array([[0.25, 0.75], [1, 0]], np.float32)}
    )
    assert orjson.loads(encode_predict(classifier))["predictions"] == [
        {"label": 1, "probabilities": [0.25, 0.75]},
        {"label": 0, "probabilities": [1.0, 0.0]},
    ]
    one = InferResult("m", "1", {"prediction": np.array([[1.5], [2.5]], np.float32)})
    assert orjson.loads(encode_predict(one))["predictions"] == [1.5, 2.5]
    two = InferResult("m", "1", {"prediction": np.array([[1, 2], [3, 4]], np.float32)})
    assert orjson.loads(encode_predict(two))["predictions"] == [[1.0, 2.0], [3.0, 4.0]]
    mixed = InferResult(
        "m", "1", {"score": np.array([0.5, 1.0]), "tag": np.array([b"x", b"y"], dtype=object)}
    )
    assert orjson.loads(encode_predict(mixed))["predictions"] == [
        {"score": 0.5, "tag": "x"},
        {"score": 1.0, "tag": "y"},
    ]

"""Large JSON bodies: numeric arrays parsed straight into numpy give exactly what the ordinary parse gives,
and anything that is not a clean array of numbers gets the ordinary parse's answer and error."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import orjson
import pytest

from modelplane.errors import Invalid
from modelplane.serving import json_numbers
from modelplane.serving.json_numbers import LARGE_BODY, PIECE_ROWS, NumberText, loads_large
from modelplane.serving.rest_v1 import decode_predict, encode_predict
from modelplane.serving.rest_v2 import OutputFormat, decode_infer, encode_infer
from modelplane.serving.types import InferResult, ModelMeta, TensorMeta

WIDTH = 8
ROWS = np.random.default_rng(0).normal(0, 100, (12_000, WIDTH)).astype(np.float32)
META = ModelMeta("m", ("1",), "onnx", (TensorMeta("input", "FP32", (-1, WIDTH)),), ())


def v2_body(data: Any, shape: list[int], datatype: str = "FP32", **extra: Any) -> bytes:
    return json.dumps(
        {
            "id": "r1",
            "inputs": [{"name": "input", "shape": shape, "datatype": datatype, "data": data}],
            **extra,
        }
    ).encode()


def v2(body: bytes) -> dict[str, np.ndarray]:
    request, _ = decode_infer("m", None, body, None, "reject")
    return request.inputs


@pytest.mark.parametrize("nested", [True, False])
@pytest.mark.parametrize(
    "dumps", [json.dumps, lambda v: orjson.dumps(v).decode(), lambda v: json.dumps(v, indent=1)]
)
def test_numeric_arrays_parse_exactly_as_the_ordinary_path(nested: bool, dumps: Any) -> None:
    data = ROWS.tolist() if nested else ROWS.reshape(-1).tolist()
    body = dumps(
        {"inputs": [{"name": "input", "shape": list(ROWS.shape), "datatype": "FP32", "data": data}]}
    ).encode()
    assert len(body) > LARGE_BODY
    payload = loads_large(body)
    assert isinstance(payload["inputs"][0]["data"], NumberText)
    got = v2(body)["input"]
    assert got.dtype == np.float32 and got.shape == ROWS.shape
    assert np.array_equal(got, np.array(data, dtype=np.float64).astype(np.float32).reshape(ROWS.shape))


def test_v1_rows_and_fp64_and_integers() -> None:
    body = orjson.dumps({"instances": ROWS.tolist(), "strict": False})
    request = decode_predict("m", None, body, META, "reject")
    assert np.array_equal(request.inputs["input"], ROWS) and request.parameters == {}
    as_fp64 = v2(v2_body(ROWS.astype(np.float64).tolist(), list(ROWS.shape), "FP64"))["input"]
    assert as_fp64.dtype == np.float64 and np.array_equal(as_fp64, ROWS.astype(np.float64))
    ints = np.arange(ROWS.size, dtype=np.int64).reshape(ROWS.shape) - 5
    assert np.array_equal(v2(v2_body(ints.tolist(), list(ints.shape), "INT32"))["input"], ints)
    with pytest.raises(Invalid, match="outside the UINT8 range"):
        v2(v2_body(ints.tolist(), list(ints.shape), "UINT8"))


def error_of(body: bytes) -> str:
    with pytest.raises(Invalid) as caught:
        v2(body)
    return str(caught.value)


@pytest.mark.parametrize(
    "spoil",
    [
        lambda rows: [*rows, rows[0][:-1]],  # ragged
        lambda rows: [*rows[:-1], [*rows[-1][:-1], True]],  # a boolean under FP32
        lambda rows: [*rows[:-1], [*rows[-1][:-1], None]],  # a null
        lambda rows: [*rows[:-1], [*rows[-1][:-1], "7"]],  # a string
        lambda rows: [*rows[:-1], [*rows[-1][:-1], [1.0]]],  # deeper nesting
    ],
)
def test_anything_else_gets_the_ordinary_error(spoil: Any) -> None:
    rows = spoil(ROWS.tolist())
    large = v2_body(rows, [len(rows), WIDTH])
    assert len(large) > LARGE_BODY
    small = v2_body(rows[-2:], [2, WIDTH])  # the same fault in a body the ordinary path parses
    assert re.sub(r"\d+", "N", error_of(large)) == re.sub(r"\d+", "N", error_of(small))


def test_malformed_json_is_refused_as_json() -> None:
    body = v2_body(ROWS.tolist(), list(ROWS.shape))
    broken = body.replace(b"]]", b"]],[1,2]", 1)  # rows then a stray array: not JSON
    with pytest.raises(Invalid, match="not valid JSON"):
        v2(broken)
    with pytest.raises(Invalid, match="not valid JSON"):
        v2(body.replace(b", ", b",,", 1))


def test_a_marker_cannot_be_forged_and_unusual_places_parse_normally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(json_numbers, "_SMALLEST_ARRAY", 1)
    forged = {"id": "\x00numbers-0123456789abcdef-0", "instances": [[1, 2]], "parameters": {"data": [3, 4]}}
    payload = loads_large(orjson.dumps(forged))
    assert payload["id"] == forged["id"] and payload["parameters"] == {"data": [3, 4]}  # ordinary parse
    assert isinstance(payload["instances"], list)


def test_large_answers_are_written_in_pieces_identically() -> None:
    rows = 3 * PIECE_ROWS + 5
    probabilities = np.random.default_rng(1).random((rows, 3), dtype=np.float32)
    labels = np.array(["setosa", "versicolor", "virginica"])[np.arange(rows) % 3]
    result = InferResult(
        "m", "1", {"label": labels, "probabilities": probabilities}, parameters={"ignored_columns": ["x"]}
    )
    whole = {
        "predictions": [
            {"label": y, "probabilities": p} for y, p in zip(labels.tolist(), probabilities, strict=True)
        ],
        "ignored_columns": ["x"],
    }
    assert encode_predict(result) == orjson.dumps(whole, option=orjson.OPT_SERIALIZE_NUMPY)
    body, _ = encode_infer(result, "r1", OutputFormat())
    answer = orjson.loads(body)
    outputs = {o["name"]: o for o in answer["outputs"]}
    assert outputs["label"]["data"] == labels.tolist()
    assert np.array_equal(
        np.array(outputs["probabilities"]["data"], dtype=np.float32), probabilities.reshape(-1)
    )
    assert answer["id"] == "r1" and outputs["probabilities"]["shape"] == [rows, 3]


def test_a_control_character_among_the_numbers_is_refused_as_json() -> None:
    body = v2_body(ROWS.tolist(), list(ROWS.shape))
    cut = body.index(b", ", body.index(b'"data"'))
    body = body[:cut] + b",\x0c" + body[cut + 2 :]  # inside the numbers; not JSON whitespace
    with pytest.raises(Invalid, match="not valid JSON"):
        v2(body)

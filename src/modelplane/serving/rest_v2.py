"""The V2 infer body over HTTP: JSON, or JSON header + raw tensors (Triton's binary tensor extension).

Kept apart from the ASGI plumbing so the whole request -> `InferRequest` -> response bytes path can be
read (and profiled) in one place. Tensor rules live in `codec`; this module only knows the HTTP framing:
`Inference-Header-Content-Length`, `binary_data_size`, `binary_data_output` and per-output `binary_data`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from modelplane.errors import Invalid
from modelplane.serving.codec import (
    Nonfinite,
    check_datatype,
    check_shape,
    decode_json,
    decode_raw,
    encode_raw,
    json_data,
    output_datatype,
)
from modelplane.serving.json_numbers import LARGE_BODY, PIECE_ROWS, loads_large
from modelplane.serving.types import InferRequest, InferResult

_NUMPY = orjson.OPT_SERIALIZE_NUMPY
_NO_OVERRIDES: dict[str, bool] = {}
_PIECE_ELEMENTS = PIECE_ROWS * 16  # elements of a long output written by one orjson call


@dataclass(slots=True)
class OutputFormat:
    """Which outputs go back as raw bytes: the request-wide default, then per-output choices."""

    binary: bool = False
    overrides: dict[str, bool] | None = None


def loads(body: bytes | bytearray | memoryview) -> dict[str, Any]:
    """The JSON object of a body; a large body's numeric arrays stay text (`NumberText`) until decoded."""
    try:
        payload = loads_large(body) if len(body) >= LARGE_BODY else orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Invalid(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise Invalid(f"the request body must be a JSON object, got {type(payload).__name__}")
    return payload


def decode_infer(
    model: str,
    version: str | None,
    body: bytes | bytearray,
    header_length: int | None,
    nonfinite: Nonfinite,
) -> tuple[InferRequest, OutputFormat]:
    """Parse an infer body; `header_length` is the `Inference-Header-Content-Length` value, if sent."""
    tail: memoryview | None = None
    if header_length is None:
        header = loads(body)
    else:
        if not 0 < header_length <= len(body):
            raise Invalid(
                f"Inference-Header-Content-Length is {header_length} but the body has {len(body)} bytes"
            )
        view = memoryview(body)
        header = loads(view[:header_length])
        tail = view[header_length:]
    specs = header.get("inputs")
    booleans = b"true" in body or b"false" in body  # else no element needs checking for JSON booleans
    if not isinstance(specs, list) or not specs:
        raise Invalid("the request needs 'inputs': a non-empty list of {name, shape, datatype, data}")
    inputs: dict[str, np.ndarray] = {}
    offset = 0
    for index, spec in enumerate(specs):
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise Invalid(f"inputs[{index}] must be an object with a string 'name'")
        name = spec["name"]
        if name in inputs:
            raise Invalid(f"input {name!r} appears twice")
        datatype = check_datatype(name, spec.get("datatype"))
        shape = check_shape(name, spec.get("shape"))
        size = _binary_size(name, spec.get("parameters"))
        if size is None:
            if "data" not in spec:
                raise Invalid(f"input {name!r} has neither 'data' nor parameters.binary_data_size")
            inputs[name] = decode_json(name, datatype, shape, spec["data"], nonfinite, booleans=booleans)
            continue
        if tail is None:
            raise Invalid(
                f"input {name!r} has binary_data_size but the request has no "
                "Inference-Header-Content-Length header saying where the JSON ends"
            )
        if offset + size > len(tail):
            raise Invalid(
                f"input {name!r}: binary_data_size {size} runs past the end of the body "
                f"({len(tail) - offset} bytes left)"
            )
        inputs[name] = decode_raw(name, datatype, shape, tail[offset : offset + size], nonfinite)
        offset += size
    if tail is not None and offset != len(tail):
        raise Invalid(
            f"the body carries {len(tail)} bytes after the JSON header but the inputs' binary_data_size "
            f"values add up to {offset}"
        )
    parameters = header.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise Invalid("'parameters' must be a JSON object")
    request_id = header.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise Invalid(f"'id' must be a string, got {type(request_id).__name__}")
    fmt = OutputFormat(binary=parameters.get("binary_data_output") is True)
    names = _requested_outputs(header.get("outputs"), fmt)
    request = InferRequest(model, version, inputs, request_id, names, parameters)
    return request, fmt


def _binary_size(name: str, parameters: Any) -> int | None:
    if not parameters:
        return None
    if not isinstance(parameters, dict):
        raise Invalid(f"input {name!r}: 'parameters' must be a JSON object")
    if "shared_memory_region" in parameters:
        raise Invalid(f"input {name!r}: shared memory is not supported here; send the tensor in the body")
    size = parameters.get("binary_data_size")
    if size is not None and (type(size) is not int or size < 0):
        raise Invalid(f"input {name!r}: binary_data_size must be a non-negative integer, got {size!r}")
    return size


def _requested_outputs(specs: Any, fmt: OutputFormat) -> list[str] | None:
    if specs is None:
        return None
    if not isinstance(specs, list):
        raise Invalid("'outputs' must be a list of {name, parameters?}")
    names = []
    overrides: dict[str, bool] = {}
    for spec in specs:
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise Invalid("each entry of 'outputs' must be an object with a string 'name'")
        name = spec["name"]
        parameters = spec.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise Invalid(f"output {name!r}: 'parameters' must be a JSON object")
        for unsupported in ("classification", "shared_memory_region"):
            if parameters.get(unsupported):
                raise Invalid(f"output {name!r}: parameter {unsupported!r} is not supported by this server")
        if "binary_data" in parameters:
            overrides[name] = parameters["binary_data"] is True
        names.append(name)
    fmt.overrides = overrides or None
    return names or None


def encode_infer(result: InferResult, request_id: str | None, fmt: OutputFormat) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when some output travels as raw bytes."""
    overrides = fmt.overrides or _NO_OVERRIDES
    outputs = []
    raw_parts: list[bytes] = []
    for name, array in result.outputs.items():
        datatype = output_datatype(array)
        entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if overrides.get(name, fmt.binary):
            raw = encode_raw(array, datatype)
            entry["parameters"] = {"binary_data_size": len(raw)}
            raw_parts.append(raw)
        else:
            entry["data"] = json_data(name, array, datatype)
        outputs.append(entry)
    response: dict[str, Any] = {"model_name": result.model, "model_version": result.version}
    answer_id = result.id if result.id is not None else request_id
    if answer_id is not None:
        response["id"] = answer_id
    if result.parameters:
        response["parameters"] = result.parameters
    response["outputs"] = outputs
    header = _dumps(response)
    if not raw_parts:
        return header, None
    return b"".join([header, *raw_parts]), len(header)


def _dumps(response: dict[str, Any]) -> bytes:
    """The response JSON; outputs with many elements are written a piece at a time (each orjson call holds
    the GIL for milliseconds) and spliced in where a random placeholder stands."""
    long: dict[bytes, Any] = {}
    for entry in response["outputs"]:
        data = entry.get("data")
        if data is not None and len(data) > _PIECE_ELEMENTS:
            placeholder = "\x00data-" + secrets.token_hex(8)
            long[orjson.dumps(placeholder)] = data
            entry["data"] = placeholder
    out = orjson.dumps(response, option=_NUMPY)
    if not long:
        return out
    parts: list[bytes] = []
    for marker, data in long.items():  # markers appear in the order the outputs were written
        before, out = out.split(marker, 1)
        parts += [before, b"["]
        for start in range(0, len(data), _PIECE_ELEMENTS):
            parts += [
                b"," if start else b"",
                orjson.dumps(data[start : start + _PIECE_ELEMENTS], option=_NUMPY)[1:-1],
            ]
        parts.append(b"]")
    parts.append(out)
    return b"".join(parts)

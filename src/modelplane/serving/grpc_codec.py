"""V2 gRPC messages <-> the serving contract (`InferRequest`, `InferResult`, `ModelMeta`).

The tensor rules (datatypes, shapes, byte sizes, NaN/Inf) are `serving.codec`'s, shared with REST, so a
tensor is accepted or refused the same way whichever transport carries it. This module adds what only
gRPC has: typed `contents` fields, `InferParameter` oneofs, and the response layout tritonclient reads
(every output in `raw_output_contents`, in the order of `outputs`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson
from tritonclient.grpc import service_pb2 as pb

from modelplane.errors import Invalid
from modelplane.serving.codec import (
    Nonfinite,
    check_datatype,
    check_finite,
    check_shape,
    decode_raw,
    element_count,
    encode_raw,
    output_datatype,
)
from modelplane.serving.types import DATATYPES, InferRequest, InferResult, ModelMeta, TensorMeta

# The typed `InferTensorContents` field that carries each datatype (FP16 and BF16 travel raw only).
CONTENTS_FIELD: dict[str, str] = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
# The numpy dtype a contents field decodes to before narrowing (int_contents is int32 on the wire).
_FIELD_DTYPE: dict[str, np.dtype] = {
    "bool_contents": np.dtype(np.bool_),
    "int_contents": np.dtype(np.int32),
    "int64_contents": np.dtype(np.int64),
    "uint_contents": np.dtype(np.uint32),
    "uint64_contents": np.dtype(np.uint64),
    "fp32_contents": np.dtype(np.float32),
    "fp64_contents": np.dtype(np.float64),
}
_INT64_MAX = 2**63 - 1


def decode_request(request: Any, nonfinite: Nonfinite = "reject") -> InferRequest:
    """A `ModelInferRequest` as the contract's `InferRequest`; every refusal is `Invalid` naming the input."""
    specs = request.inputs
    if not specs:
        raise Invalid("the request has no inputs; send each input with its name, datatype and shape")
    raws = request.raw_input_contents
    if raws and len(raws) != len(specs):
        raise Invalid(
            f"raw_input_contents has {len(raws)} entries for {len(specs)} inputs; "
            "when raw contents are used, send exactly one per input, in input order"
        )
    inputs: dict[str, np.ndarray] = {}
    for index, spec in enumerate(specs):
        name = spec.name
        if name in inputs:
            raise Invalid(f"input {name!r} appears twice")
        datatype = check_datatype(name, spec.datatype)
        shape = check_shape(name, list(spec.shape))
        if raws:
            if spec.HasField("contents"):
                raise Invalid(f"input {name!r} has both typed contents and raw_input_contents; send one")
            inputs[name] = decode_raw(name, datatype, shape, raws[index], nonfinite)
        else:
            inputs[name] = decode_contents(name, datatype, shape, spec.contents, nonfinite)
    return InferRequest(
        model=request.model_name,
        version=request.model_version or None,
        inputs=inputs,
        id=request.id or None,
        outputs=[output.name for output in request.outputs] or None,
        parameters=parameters_of(request.parameters),
    )


def decode_contents(
    name: str, datatype: str, shape: tuple[int, ...], contents: Any, nonfinite: Nonfinite = "reject"
) -> np.ndarray:
    """A tensor from typed `InferTensorContents`, narrowed to `datatype` only when every value fits."""
    field = CONTENTS_FIELD.get(datatype)
    if field is None:
        raise Invalid(f"input {name!r} is {datatype}, which travels only in raw_input_contents")
    values = getattr(contents, field)
    count = element_count(shape)
    if len(values) != count:
        raise Invalid(
            f"input {name!r}: shape {list(shape)} needs {count} elements in contents.{field}, "
            f"got {len(values)}"
        )
    if datatype == "BYTES":
        array = np.empty(count, dtype=object)
        array[:] = list(values)
        return array.reshape(shape)
    wide = np.array(values, dtype=_FIELD_DTYPE[field])
    target = DATATYPES[datatype]
    if target != wide.dtype:
        limits = np.iinfo(target)
        if wide.size and (wide.min() < limits.min or wide.max() > limits.max):
            raise Invalid(
                f"input {name!r}: a value is outside the {datatype} range [{limits.min}, {limits.max}]"
            )
        wide = wide.astype(target)
    array = wide.reshape(shape)
    check_finite(name, array, nonfinite)
    return array


def parameters_of(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """`map<string, InferParameter>` as plain Python values; unset oneofs are dropped."""
    values: dict[str, Any] = {}
    for key, parameter in parameters.items():
        choice = parameter.WhichOneof("parameter_choice")
        if choice is not None:
            values[key] = getattr(parameter, choice)
    return values


def infer_parameter(value: Any) -> Any:
    """A Python value as an `InferParameter`; bool before int, since bool is an int in Python. A list (e.g.
    `ignored_columns`) has no parameter type of its own and travels as JSON text."""
    if isinstance(value, list | tuple):
        return pb.InferParameter(string_param=orjson.dumps(list(value)).decode())
    if isinstance(value, bool):
        return pb.InferParameter(bool_param=value)
    if isinstance(value, int):
        if value > _INT64_MAX:
            return pb.InferParameter(uint64_param=value)
        return pb.InferParameter(int64_param=value)
    if isinstance(value, float):
        return pb.InferParameter(double_param=value)
    return pb.InferParameter(string_param=str(value))


def encode_response(result: InferResult, request_id: str | None) -> Any:
    """A `ModelInferResponse` with every output raw, in `outputs` order: what tritonclient reads."""
    tensors = []
    raws = []
    for name, array in result.outputs.items():
        datatype = output_datatype(array)
        tensors.append(
            pb.ModelInferResponse.InferOutputTensor(name=name, datatype=datatype, shape=array.shape)
        )
        raws.append(encode_raw(array, datatype))
    response = pb.ModelInferResponse(
        model_name=result.model,
        model_version=result.version,
        id=result.id if result.id is not None else request_id or "",
        outputs=tensors,
        raw_output_contents=raws,
    )
    for key, value in result.parameters.items():
        response.parameters[key].CopyFrom(infer_parameter(value))
    return response


def _tensor_metadata(tensor: TensorMeta) -> Any:
    return pb.ModelMetadataResponse.TensorMetadata(
        name=tensor.name, datatype=tensor.datatype, shape=tensor.shape
    )


def model_metadata_response(meta: ModelMeta) -> Any:
    return pb.ModelMetadataResponse(
        name=meta.name,
        versions=meta.versions,
        platform=meta.platform,
        inputs=[_tensor_metadata(t) for t in meta.inputs],
        outputs=[_tensor_metadata(t) for t in meta.outputs],
    )

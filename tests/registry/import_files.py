"""Model files made elsewhere, written the way their own tools write them (for the import tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

RNG = np.random.default_rng(0)
W = RNG.normal(size=(4, 3)).astype(np.float32)
B = np.array([0.1, -0.2, 0.3], np.float32)


def linear_onnx(
    path: Path,
    *,
    in_name: str = "x",
    out_name: str = "logits",
    in_type: int = TensorProto.FLOAT,
    shape: list[int | str] | None = None,
    opset: int = 17,
    outputs: int = 3,
    softmax: bool = False,
) -> Path:
    """x (N, 4) @ W + b: logits of 3 classes (or `outputs` values), as torch.onnx or onnx.helper write it."""
    w, b = W[:, :outputs], B[:outputs]
    nodes = []
    x = in_name
    if in_type != TensorProto.FLOAT:
        nodes.append(helper.make_node("Cast", [in_name], ["x32"], to=TensorProto.FLOAT))
        x = "x32"
    head = "scores" if softmax else out_name
    nodes += [helper.make_node("MatMul", [x, "W"], ["xw"]), helper.make_node("Add", ["xw", "B"], [head])]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["scores"], [out_name], axis=1))
    graph = helper.make_graph(
        nodes,
        "linear",
        [helper.make_tensor_value_info(in_name, in_type, shape if shape is not None else ["N", 4])],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, ["N", outputs])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def expected_logits(x: np.ndarray, outputs: int = 3) -> np.ndarray:
    return x.astype(np.float32) @ W[:, :outputs] + B[:outputs]


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def iris_like(n: int = 90) -> tuple[np.ndarray, np.ndarray]:
    """Three separable blobs in 4 features."""
    rng = np.random.default_rng(1)
    y = np.arange(n) % 3
    x = rng.normal(size=(n, 4)).astype(np.float32) + y[:, None] * 3.0
    return x.astype(np.float32), y

"""int8 weight storage, float compute: the `weights` quantisation mode.

Each float weight of a MatMul, Gemm or Conv layer is stored as int8 with a float scale (symmetric, zero
point 0; one scale per tensor, or per output channel on request) and expanded in the graph by
Cast(int8 -> float) x scale. Both inputs are constants, so ONNX Runtime constant-folds the pair when it
loads the graph (a basic-level optimisation, on in every session serving opens): the layers then run as
the float ones did, on float32 weights held in memory. Only the file is smaller (~4x for the weights);
compute, runtime memory and speed stay float, and accuracy moves only by the weights' rounding.

Cast x scale rather than DequantizeLinear, though the latter is the standard op for it: ONNX Runtime
1.32 keeps DequantizeLinear out of constant folding (it leaves it for its QDQ fusions), so on the digits
MLP the dequantisation ran on every call, 1.17x the float latency at batch 1; Cast x scale folded into
the float FusedGemm and ran 0.98-1.03x. `check_expanded_at_load` confirms on every graph this mode writes
that the session ONNX Runtime builds from it holds no int8 tensor, so a runtime that stopped folding would
fail the compression instead of quietly serving a slower model.

Per-tensor scales are the default, as in the other modes: on the digits MLP ([128, 64]) per-channel ones
gave the same error (mean |probability change| 2.6e-5 against 2.8e-5, labels identical) for a 4% larger
file; on a small cnn they halved it (7.5e-5 against 1.5e-4) for 3% more bytes, which --per-channel is
for. Biases stay float (a few hundred bytes), as do recurrent (LSTM/GRU) weights and layers whose weight
is computed, not stored. The input standardisation is folded at load (fold.py): the int8 values are
those of the unscaled weight, and s * W and b + t @ W are constant nodes ONNX Runtime computes once, so
the session has no Sub and Div before the first layer (digits MLP at batch 1: 0.91-0.97x the parent's
latency, where the unfolded graph ran 0.98-1.03x). Folding into the stored weight instead, as the other
modes must, put t @ (W - W_int8) into the bias (1.6x the error) or stretched the rows of small-std features.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from modelplane.errors import IntegrityError

_LAYERS = ("MatMul", "Gemm", "Conv")
_LEVELS = 127  # symmetric: [-127, 127], so +w and -w round to opposite values


def store_weights_int8(model: onnx.ModelProto, *, per_channel: bool) -> onnx.ModelProto:
    """A copy of `model` whose layer weights are int8 constants expanded to float by Cast and Mul."""
    quantized = copy.deepcopy(model)
    graph = quantized.graph
    axes = _layer_weights(graph)
    expand: list[onnx.NodeProto] = []
    for tensor in [t for t in graph.initializer if t.name in axes]:
        weight = numpy_helper.to_array(tensor)
        values, scale = _to_int8(weight, axes[tensor.name] if per_channel else None)
        stored, scale_name, cast = (f"{tensor.name}_int8{suffix}" for suffix in ("", "_scale", "_float"))
        graph.initializer.remove(tensor)
        graph.initializer.extend(
            [numpy_helper.from_array(values, stored), numpy_helper.from_array(scale, scale_name)]
        )
        expand += [
            helper.make_node("Cast", [stored], [cast], to=TensorProto.FLOAT),
            helper.make_node("Mul", [cast, scale_name], [tensor.name]),
        ]
    layers = list(graph.node)
    del graph.node[:]
    graph.node.extend([*expand, *layers])  # constants first keeps the nodes in topological order
    return quantized


def _layer_weights(graph: onnx.GraphProto) -> dict[str, int]:
    """Stored float weights (2-d or more) of the graph's layers, each with its output-channel axis."""
    inputs = {i.name for i in graph.input}
    floats = {
        t.name: len(t.dims)
        for t in graph.initializer
        if t.data_type == TensorProto.FLOAT and len(t.dims) >= 2 and t.name not in inputs
    }
    axes: dict[str, int] = {}
    for node in graph.node:
        if node.op_type in _LAYERS and len(node.input) > 1 and node.input[1] in floats:
            axes.setdefault(node.input[1], _output_axis(node, floats[node.input[1]]))
    return axes


def _output_axis(node: onnx.NodeProto, ndim: int) -> int:
    """The axis of a layer's outputs in its weight: Conv kernels are (out, in, *k); Gemm's B is (in, out),
    or (out, in) with transB; MatMul's is (..., in, out)."""
    if node.op_type == "Conv":
        return 0
    if node.op_type == "Gemm":
        trans_b = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "transB"), 0)
        return 0 if trans_b else 1
    return ndim - 1


def _to_int8(weight: np.ndarray, axis: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 values and their float scale: one scalar, or one per index of `axis` (broadcastable)."""
    over = None if axis is None else tuple(d for d in range(weight.ndim) if d != axis)
    largest = np.max(np.abs(weight), axis=over, keepdims=axis is not None)
    scale = np.where(largest > 0, largest / _LEVELS, 1.0).astype(np.float32)  # an all-zero weight stays 0
    values = np.clip(np.rint(weight / scale), -_LEVELS, _LEVELS).astype(np.int8)
    return values, scale


def check_expanded_at_load(path: Path, scratch: Path) -> None:
    """Raise unless ONNX Runtime turns every int8 weight of `path` back into float when it loads it.

    It writes the session's optimised graph (basic level: constant folding, which serving's level
    includes) and looks for int8 tensors left in it; one left would be dequantised on every call.
    """
    import onnxruntime as ort

    optimised = scratch / f"{path.stem}.loaded.onnx"
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # it only loads the graph
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(optimised)
    ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    graph = onnx.load(str(optimised)).graph
    left = [t.name for t in graph.initializer if t.data_type == TensorProto.INT8]
    if left:
        raise IntegrityError(
            f"ONNX Runtime {ort.__version__} kept {len(left)} int8 weight(s) unexpanded when loading the "
            "graph, so it would dequantise them on every call instead of computing in float; use "
            "--mode dynamic or static, or report this"
        )

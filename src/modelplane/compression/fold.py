"""Fold the input standardisation into the first dense layer, as graph optimisers fold constants.

Every torch network in the zoo starts with (x - mean) / std, fitted at training time and stored in the
graph. When the standardised rows go straight (or through a flatten) into a Gemm/MatMul with constant
weights, the affine map x' = x * s + t (per feature) can move into that layer:
x' @ W + b = x @ (s[:, None] * W) + (b + t @ W).

Two depths, because int8 does not always survive the full fold. Moving s into the weights stretches the
rows of features with a small std (digits' rarely-inked border pixels: std 0.03 against 6.5 elsewhere)
until they take the whole per-tensor int8 range and the other weights round to a handful of levels;
per-channel scales cannot help, they run along the outputs, not the features. Folding only t keeps the
weights but makes the first layer quantise uncentred inputs x * s, which costs range when |mean| >> std.
So `scale=False` leaves one Mul by s in place of the Sub and Div, and the quantiser keeps whichever
depth its measurements allow (see quantize.py).

`fold_input_normalization_at_load` is the third way, for graphs whose weights are stored in int8 but
computed in float (the `weights` mode): the fold is written as constant nodes on the stored weight
(s[:, None] * W and b + t @ W), which ONNX Runtime evaluates once when it loads the graph. The int8 rows
stay those of the unscaled weight, so nothing is stretched, and the session runs the layer on the raw
input with no Sub, Div or Mul before it.

Anything else (a Conv or LSTM first, a divisor of zero, a standardised tensor used twice) is left as it
is: the graph stays correct, only unfolded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from modelplane.compression.compact import drop_unused_initializers
from modelplane.runtimes.base import INPUT_NAME

_Pair = tuple[np.ndarray, np.ndarray]


def _sub(scale: np.ndarray, shift: np.ndarray, c: np.ndarray) -> _Pair:
    return scale, shift - c


def _add(scale: np.ndarray, shift: np.ndarray, c: np.ndarray) -> _Pair:
    return scale, shift + c


def _mul(scale: np.ndarray, shift: np.ndarray, c: np.ndarray) -> _Pair:
    return scale * c, shift * c


def _div(scale: np.ndarray, shift: np.ndarray, c: np.ndarray) -> _Pair | None:
    """None for a zero divisor: x / 0 is inf or NaN at run time, and no finite weight reproduces that."""
    if not np.all(c != 0):
        return None
    return scale / c, shift / c


# x OP c; Add and Mul commute, so c OP x is the same map. Sub and Div with x second are not folded.
_STEPS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], _Pair | None]] = {
    "Sub": _sub,
    "Add": _add,
    "Mul": _mul,
    "Div": _div,
}
_COMMUTATIVE = ("Add", "Mul")


@dataclass(frozen=True)
class _Affine:
    """x * scale + shift over one sample's features (C order), and the nodes that compute it."""

    scale: np.ndarray
    shift: np.ndarray
    nodes: tuple[onnx.NodeProto, ...]
    output: str


@dataclass(frozen=True)
class _Dense:
    """The layer reading the standardised rows: its weight as (features, units), bias, and layout."""

    node: onnx.NodeProto
    entry: onnx.NodeProto  # the node reading the standardised tensor: the layer or a flatten before it
    weight: np.ndarray
    bias: np.ndarray
    transposed: bool


def fold_input_normalization(model: onnx.ModelProto, *, scale: bool) -> str | None:
    """Fold the affine map on the input into its dense consumer, in place.

    With `scale`, all of it moves into the layer; without, a Mul by the scale stays before it. Returns
    what moved ('scale and shift', or 'shift' when a Mul stays or the scale is 1), or None when the graph
    has nothing foldable.
    """
    graph = model.graph
    found = _foldable(graph)
    if found is None:
        return None
    sample, affine, dense = found
    unit_scale = bool(np.all(affine.scale == 1))
    keep_mul = not scale and not unit_scale
    if len(affine.nodes) <= int(keep_mul):
        return None  # a lone Div or Mul would only be swapped for a Mul
    weight = affine.scale[:, None] * dense.weight if scale else dense.weight
    bias = dense.bias + affine.shift @ dense.weight
    _remove_affine(graph, affine, sample, keep_mul, dense.entry)
    _set_weights(graph, dense, weight, bias)
    drop_unused_initializers(graph)
    return "scale and shift" if scale and not unit_scale else "shift"


def fold_input_normalization_at_load(model: onnx.ModelProto) -> str | None:
    """Fold the affine map on the input into its dense consumer as constant nodes on the layer's stored
    weight, in place: the stored weight and bias keep their values and names (so a weight stored in int8
    is the unscaled one), and the folded ones are computed when the graph is loaded. Returns 'scale and
    shift', or None when the graph has nothing foldable."""
    graph = model.graph
    found = _foldable(graph)
    if found is None:
        return None
    sample, affine, dense = found
    node = dense.node
    weight, out = node.input[1], node.output[0]
    features, units = dense.weight.shape
    # The stored weight is (features, units), or (units, features) under transB: s runs along features.
    scale_shape = (1, features) if dense.transposed else (features, 1)
    names = {k: f"{out}_load_{k}" for k in ("scale", "shift", "bias", "weight", "folded_bias")}
    graph.initializer.extend(
        [
            numpy_helper.from_array(affine.scale.reshape(scale_shape).astype(np.float32), names["scale"]),
            numpy_helper.from_array(affine.shift.reshape(1, features).astype(np.float32), names["shift"]),
        ]
    )
    if len(node.input) > 2 and node.input[2]:
        names["bias"] = node.input[2]  # the stored one: (units,) or a scalar, both broadcast as C
    else:
        graph.initializer.append(numpy_helper.from_array(np.zeros((1, units), np.float32), names["bias"]))
    position = list(graph.node).index(affine.nodes[0])
    _remove_affine(graph, affine, sample, False, dense.entry)
    transposed = int(dense.transposed)
    load_time = [
        helper.make_node("Mul", [weight, names["scale"]], [names["weight"]]),
        helper.make_node(
            "Gemm", [names["shift"], weight, names["bias"]], [names["folded_bias"]], transB=transposed
        ),
    ]
    for offset, extra in enumerate(load_time):
        graph.node.insert(position + offset, extra)
    node.op_type = "Gemm"  # a MatMul over 2-d rows is Gemm without C
    del node.input[1:]
    node.input.extend([names["weight"], names["folded_bias"]])
    if transposed and not any(a.name == "transB" for a in node.attribute):
        node.attribute.append(helper.make_attribute("transB", 1))
    drop_unused_initializers(graph)
    return "scale and shift"


def _foldable(graph: onnx.GraphProto) -> tuple[tuple[int, ...], _Affine, _Dense] | None:
    """The input's per-sample shape, the affine map on it and the dense layer that reads it, if any."""
    sample = _sample_shape(graph)
    if sample is None:
        return None
    constants = {t.name: t for t in graph.initializer}
    affine = _input_affine(graph, constants, sample)
    dense = _dense_consumer(graph, constants, affine, sample) if affine is not None else None
    if affine is None or dense is None:
        return None
    return sample, affine, dense


def _sample_shape(graph: onnx.GraphProto) -> tuple[int, ...] | None:
    """The input's per-sample shape, when every dimension but the batch is fixed."""
    inputs = [i for i in graph.input if i.name == INPUT_NAME]
    if not inputs:
        return None
    dims = inputs[0].type.tensor_type.shape.dim[1:]
    if not all(d.HasField("dim_value") for d in dims):
        return None
    return tuple(d.dim_value for d in dims)


def _sole_consumer(graph: onnx.GraphProto, tensor: str) -> onnx.NodeProto | None:
    """The one node reading `tensor`, unless the graph also returns it (then it must stay computed)."""
    users = [n for n in graph.node if tensor in n.input]
    if len(users) != 1 or tensor in {o.name for o in graph.output}:
        return None
    return users[0]


def _per_sample(tensor: onnx.TensorProto, sample: tuple[int, ...]) -> np.ndarray | None:
    """A float constant broadcast over one sample and flattened, or None if it varies with the batch."""
    if tensor.data_type != TensorProto.FLOAT:
        return None
    value = numpy_helper.to_array(tensor).astype(np.float64)
    batched = (1, *sample)
    try:
        if np.broadcast_shapes(value.shape, batched) != batched:
            return None
    except ValueError:
        return None
    return np.broadcast_to(value, batched).reshape(-1)


def _input_affine(
    graph: onnx.GraphProto, constants: dict[str, onnx.TensorProto], sample: tuple[int, ...]
) -> _Affine | None:
    """Compose the chain of Sub/Div/Mul/Add-by-constant nodes that starts at the input into one map."""
    width = math.prod(sample)
    affine = _Affine(np.ones(width), np.zeros(width), (), INPUT_NAME)
    while (node := _sole_consumer(graph, affine.output)) is not None:
        step = _constant_step(node, affine.output, constants, sample)
        if step is None:
            break
        update, constant = step
        composed = update(affine.scale, affine.shift, constant)
        if composed is None:
            return None
        affine = _Affine(*composed, (*affine.nodes, node), node.output[0])
    finite = np.all(np.isfinite(affine.scale)) and np.all(np.isfinite(affine.shift))
    return affine if affine.nodes and finite else None


def _constant_step(
    node: onnx.NodeProto, tensor: str, constants: dict[str, onnx.TensorProto], sample: tuple[int, ...]
) -> tuple[Callable[[np.ndarray, np.ndarray, np.ndarray], _Pair | None], np.ndarray] | None:
    """How `node` maps `tensor` (x OP c), or None if it is not an elementwise op with a per-feature c."""
    if node.op_type not in _STEPS or len(node.input) != 2:
        return None
    first, second = node.input
    if first == tensor and second in constants:
        other = second
    elif second == tensor and first in constants and node.op_type in _COMMUTATIVE:
        other = first
    else:
        return None
    constant = _per_sample(constants[other], sample)
    return None if constant is None else (_STEPS[node.op_type], constant)


def _dense_consumer(
    graph: onnx.GraphProto, constants: dict[str, onnx.TensorProto], affine: _Affine, sample: tuple[int, ...]
) -> _Dense | None:
    """The Gemm/MatMul with a constant 2-d weight that reads the standardised rows, possibly flattened."""
    entry = _sole_consumer(graph, affine.output)
    node, tensor = entry, affine.output
    if entry is not None and _flattens_sample(entry, constants, sample):
        tensor = entry.output[0]
        node = _sole_consumer(graph, tensor)
    elif len(sample) != 1:
        return None  # a dense layer over a >2-d tensor applies its weight per row, not per feature
    if entry is None or node is None or list(node.input[:1]) != [tensor] or node.input[1] not in constants:
        return None
    attrs = _attributes(node)
    plain = attrs.get("alpha", 1.0) == 1.0 and attrs.get("beta", 1.0) == 1.0 and not attrs.get("transA", 0)
    if node.op_type not in ("Gemm", "MatMul") or not plain:
        return None
    transposed = bool(attrs.get("transB", 0))
    weight = numpy_helper.to_array(constants[node.input[1]]).astype(np.float64)
    weight = weight.T if transposed else weight
    if weight.ndim != 2 or weight.shape[0] != affine.scale.size:
        return None
    bias = _bias(node, constants, weight.shape[1])
    return None if bias is None else _Dense(node, entry, weight, bias, transposed)


def _bias(node: onnx.NodeProto, constants: dict[str, onnx.TensorProto], units: int) -> np.ndarray | None:
    """Gemm's C as one value per unit (it may be a scalar or (1, units)); zeros for none or a MatMul."""
    if len(node.input) < 3 or not node.input[2]:
        return np.zeros(units)
    if node.input[2] not in constants:
        return None
    value = numpy_helper.to_array(constants[node.input[2]]).astype(np.float64).reshape(-1)
    return np.broadcast_to(value, (units,)).copy() if value.size in (1, units) else None


def _flattens_sample(
    node: onnx.NodeProto, constants: dict[str, onnx.TensorProto], sample: tuple[int, ...]
) -> bool:
    """Flatten(axis=1), or Reshape to [-1, features]: one row per sample, features in C order."""
    if node.op_type == "Flatten":
        return _attributes(node).get("axis", 1) == 1
    if node.op_type != "Reshape" or node.input[1] not in constants:
        return False
    return numpy_helper.to_array(constants[node.input[1]]).tolist() == [-1, math.prod(sample)]


def _attributes(node: onnx.NodeProto) -> dict[str, object]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _remove_affine(
    graph: onnx.GraphProto, affine: _Affine, sample: tuple[int, ...], keep_mul: bool, entry: onnx.NodeProto
) -> None:
    """Replace the chain by one Mul by the scale, or by nothing (the entry then reads the raw input)."""
    position = list(graph.node).index(affine.nodes[0])
    for node in affine.nodes:
        graph.node.remove(node)
    if not keep_mul:
        entry.input[0] = INPUT_NAME
        return
    # Not '<tensor>_scale': the quantiser names the scale it computes for tensor X 'X_scale'.
    scale = f"{affine.output}_folded_multiplier"
    graph.initializer.append(numpy_helper.from_array(affine.scale.reshape(sample).astype(np.float32), scale))
    mul = helper.make_node("Mul", [INPUT_NAME, scale], [affine.output], name=affine.nodes[-1].name)
    graph.node.insert(position, mul)


def _set_weights(graph: onnx.GraphProto, dense: _Dense, weight: np.ndarray, bias: np.ndarray) -> None:
    """Give the layer new constants (the old may be shared); a MatMul becomes a Gemm to take the bias."""
    node = dense.node
    weight_name, bias_name = f"{node.output[0]}_folded_weight", f"{node.output[0]}_folded_bias"
    stored = weight.T if dense.transposed else weight
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.ascontiguousarray(stored, dtype=np.float32), weight_name),
            numpy_helper.from_array(bias.astype(np.float32), bias_name),
        ]
    )
    node.op_type = "Gemm"  # MatMul over 2-d rows is Gemm without C; attributes default to plain
    node.input[1] = weight_name
    del node.input[2:]
    node.input.append(bias_name)

"""int8 quantisation of a version's ONNX graph with ONNX Runtime's quantisation tools.

dynamic: weights of MatMul layers become int8; activations are quantised per call from their observed
range (DynamicQuantizeLinear), so no data is needed. Convolutions stay float: ONNX Runtime's dynamic
ConvInteger is slower than the float Conv (bench/compress.py has the numbers); PyTorch's dynamic mode also
covers only Linear/RNN layers.
static: weights and activations of Conv/Gemm/MatMul (and the Relu/pool/reshape between them) become
int8, with activation ranges calibrated on training rows; QDQ format, which ONNX Runtime fuses into
QLinearConv/QGemm kernels at load time.
weights: only the file is int8. Weights of MatMul/Gemm/Conv are stored as int8 and expanded back to
float32 by ONNX Runtime when it loads the graph, so compute, runtime memory and speed stay float
(weights.py; checked on every graph it writes).
Each mode's result is a standard-op ONNX file that honours the serving contract. Recurrent (LSTM/GRU)
weights stay float in all modes; `params.compression.int8_tensors` says how many tensors became int8.

Before quantising, the input standardisation is folded into the first dense layer (fold.py) as far as
int8 allows, and after it the graph is compacted (compact.py), for a smaller file and fewer nodes. How far
to fold is measured, not guessed: each fold must reproduce the float outputs on real rows, and is kept only
if its int8 graph stays as close to the float parent as the unfolded int8 graph does. In weights mode the
fold is first offered as one computed when the graph loads (the weights are float at run time), which
keeps the int8 weights unscaled.

Dynamic mode keeps ONNX Runtime's defaults (per-tensor symmetric QInt8 weights, uint8 activations): none
of the alternatives ran faster (bench/compress.py lists what was tried). A model as small as the digits
MLP stays slower in int8 than in float: ONNX Runtime fuses the Relu into a float layer (FusedGemm) but not
into an int8 one. Wider models win.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from modelplane.compression.compact import compact_graph
from modelplane.compression.float_tail import keep_last_layer_float
from modelplane.compression.fold import fold_input_normalization, fold_input_normalization_at_load
from modelplane.compression.weights import check_expanded_at_load, store_weights_int8
from modelplane.errors import IntegrityError, Invalid
from modelplane.models.frameworks import QUANTIZE, framework, frameworks_with, kinds_of
from modelplane.models.onnx_checks import check_onnx, strip_debug_metadata, verify_export
from modelplane.registry.views import ONNX_FRAMEWORK, ModelVersionInfo
from modelplane.runtimes.base import INPUT_NAME
from modelplane.runtimes.onnx_runtime import OnnxRuntime

MODES = ("dynamic", "static", "weights")
DTYPES = ("int8",)
_STATIC_OPS = ["Conv", "Gemm", "MatMul", "Relu", "MaxPool", "Reshape", "Flatten"]
# What each mode makes int8, for the message when a graph has none of it.
_COVERS = {"dynamic": "MatMul/Gemm", "static": "Conv, Gemm, MatMul", "weights": "MatMul/Gemm/Conv weights"}
_CALIBRATION_BATCH = 64
_INT8 = (TensorProto.INT8, TensorProto.UINT8)
# Rows that check a fold: enough to see every feature's range, few enough to run in milliseconds.
_CHECK_ROWS = 512
# A folded float graph must match the source this closely (relative too: regression targets in the
# hundreds carry float32 rounding above 1e-5 absolute).
_FOLD_TOLERANCE = 1e-5
# A folded int8 graph may stray from the float outputs this much more than the unfolded int8 graph: two
# equally good int8 graphs differ by ~15% in mean error from rounding alone (digits MLP: 0.00076 vs 0.00086).
_ERROR_MARGIN = 1.25


@dataclass(frozen=True)
class Quantized:
    """What quantize_onnx wrote: how many weight tensors became int8, and how far the input
    standardisation was folded into the first layer ('scale and shift', 'shift', 'scale and shift at
    load' in weights mode, or None)."""

    int8_tensors: int
    folded: str | None


def check_quantizable(info: ModelVersionInfo) -> None:
    """Refuse, before any work, what has no float ONNX graph with layers to quantise."""
    if info.framework == ONNX_FRAMEWORK and "imported" in info.params:
        raise Invalid(
            f"{info.ref} is an ONNX graph imported from elsewhere; int8 quantisation here works on "
            "networks modelplane reads layer by layer: import torch weights as safetensors + spec, "
            "quantise the graph before importing it (onnxruntime.quantization), or distill it (--distill)"
        )
    if info.framework == ONNX_FRAMEWORK:
        raise Invalid(f"{info.ref} is already quantised; quantise its parent {info.parent} instead")
    adapter = framework(info.framework)
    if QUANTIZE not in adapter.capabilities:
        networks = ", ".join(k for name in frameworks_with(QUANTIZE) for k in kinds_of(name))
        raise Invalid(
            f"{info.ref} is a {adapter.title} {info.kind} model; int8 quantisation applies to neural "
            f"networks ({networks}) served from ONNX. Shrink it by retraining (e.g. fewer trees) or distill "
            "it into an mlp with --distill"
        )
    if info.onnx_sha is None:
        raise Invalid(f"{info.ref} has no ONNX export to quantise ({info.onnx_note}); retrain it to get one")


def quantize_onnx(
    source: Path,
    dest: Path,
    *,
    mode: str,
    task: str,
    rows: np.ndarray,
    calibration: np.ndarray | None,
    per_channel: bool,
    scratch: Path,
) -> Quantized:
    """Write the int8 graph of `source` to `dest`, folded as far as int8 allows and compacted.

    `rows` are real input rows (not the test split: they choose between graphs) on which folds are checked.
    """
    if mode == "static" and (calibration is None or len(calibration) == 0):
        raise Invalid("static quantisation needs calibration rows; pass --calibration-rows N (N >= 1)")
    model = onnx.load(str(source))
    strip_debug_metadata(model)  # exports made before it was stripped at export time still carry it
    x = np.ascontiguousarray(rows[:_CHECK_ROWS], dtype=np.float32)
    reference = OnnxRuntime(source, threads=1)
    quantize = partial(
        _quantize, mode=mode, calibration=calibration, per_channel=per_channel, scratch=scratch
    )
    best, folded = quantize(model, "unfolded"), None
    count = _int8_tensors(best)
    if count == 0:
        raise Invalid(
            f"the graph has no layers {mode} quantisation covers (it quantises {_COVERS[mode]}); "
            "nothing would change"
        )
    bound = _ERROR_MARGIN * _int8_error(best, reference, x)
    for how, candidate in _folds(model, reference, x, at_load=mode == "weights"):
        quantized = quantize(candidate, how.replace(" ", "_"))
        if _int8_error(quantized, reference, x) <= bound:
            best, folded = quantized, how
            break
    compact_graph(best)
    onnx.save(best, str(dest))
    check_onnx(dest, task)
    if mode == "weights":
        check_expanded_at_load(dest, scratch)  # the mode's promise: float compute
    return Quantized(count, folded)


def _folds(
    model: onnx.ModelProto, reference: OnnxRuntime, x: np.ndarray, *, at_load: bool
) -> Iterator[tuple[str, onnx.ModelProto]]:
    """Folded copies of `model`, leanest first, each reproducing the float outputs on `x`; `at_load` first
    offers the fold computed when the graph loads, for weights that are float at run time.

    One that does not (float32 cancellation in b - mean/std @ W when |mean| >> std) is not offered.
    """
    offered = set()
    folds: list[Callable[[onnx.ModelProto], str | None]] = [
        partial(fold_input_normalization, scale=True),
        partial(fold_input_normalization, scale=False),
    ]
    if at_load:
        folds.insert(0, lambda graph: _at_load(fold_input_normalization_at_load(graph)))
    for fold in folds:
        candidate = copy.deepcopy(model)
        how = fold(candidate)
        if how is None or how in offered:
            continue
        offered.add(how)
        folded = OnnxRuntime(candidate.SerializeToString(), threads=1)
        try:
            verify_export(reference, folded, x, atol=_FOLD_TOLERANCE, rtol=_FOLD_TOLERANCE)
        except IntegrityError:
            continue
        yield how, candidate


def _quantize(
    model: onnx.ModelProto,
    name: str,
    *,
    mode: str,
    calibration: np.ndarray | None,
    per_channel: bool,
    scratch: Path,
) -> onnx.ModelProto:
    """The int8 graph of `model`: weight storage here, or ONNX Runtime's tools (files under `scratch`,
    named by `name`)."""
    if mode == "weights":
        return store_weights_int8(model, per_channel=per_channel)
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared, dest = scratch / f"{name}.prepared.onnx", scratch / f"{name}.int8.onnx"
    with _quiet_quantizer():
        quant_pre_process(model, str(prepared))
        if mode == "dynamic":
            matmuls = scratch / f"{name}.matmul.onnx"
            onnx.save(_gemm_as_matmul(onnx.load(str(prepared))), str(matmuls))
            # ONNX Runtime's defaults: the alternatives measured no faster (bench/compress.py).
            quantize_dynamic(
                str(matmuls),
                str(dest),
                weight_type=QuantType.QInt8,
                per_channel=per_channel,
                op_types_to_quantize=["MatMul"],
            )
        else:
            assert calibration is not None  # checked by quantize_onnx
            _quantize_static(prepared, dest, calibration, per_channel)
            static = onnx.load(str(dest))
            keep_last_layer_float(static)
            return static
    return onnx.load(str(dest))


def _at_load(how: str | None) -> str | None:
    return None if how is None else f"{how} at load"


def _int8_tensors(model: onnx.ModelProto) -> int:
    return sum(1 for t in model.graph.initializer if t.data_type in _INT8 and math.prod(t.dims) > 1)


def _int8_error(model: onnx.ModelProto, reference: OnnxRuntime, x: np.ndarray) -> float:
    """Mean |int8 - float| over the values the model returns (probabilities or predictions) on `x`."""
    expected = reference.predict(x)
    got = OnnxRuntime(model.SerializeToString(), threads=1).predict(x)
    values = "probabilities" if "probabilities" in expected else "prediction"
    return float(np.mean(np.abs(got[values].astype(np.float64) - expected[values])))


def _quantize_static(prepared: Path, dest: Path, calibration: np.ndarray, per_channel: bool) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Rows(CalibrationDataReader):
        def __init__(self) -> None:
            rows = np.ascontiguousarray(calibration, dtype=np.float32)
            self._batches = iter(
                [
                    {INPUT_NAME: rows[i : i + _CALIBRATION_BATCH]}
                    for i in range(0, len(rows), _CALIBRATION_BATCH)
                ]
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._batches, None)

    # S8S8 in QDQ: ONNX Runtime's recommended default on x86 and ARM; U8S8 can saturate without VNNI.
    quantize_static(
        str(prepared),
        str(dest),
        Rows(),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        per_channel=per_channel,
        calibrate_method=CalibrationMethod.MinMax,
        op_types_to_quantize=_STATIC_OPS,
    )


def _gemm_as_matmul(model: onnx.ModelProto) -> onnx.ModelProto:
    """Rewrite Gemm(x, W^T, b) as MatMul(x, W) + b: ONNX Runtime's dynamic quantiser covers MatMul only.

    torch exports nn.Linear on 2-d inputs as Gemm; left as is, dynamic mode would quantise nothing.
    """
    graph = model.graph
    weights = {t.name: t for t in graph.initializer}
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        plain = (
            attrs.get("alpha", 1.0) == 1.0 and attrs.get("beta", 1.0) == 1.0 and not attrs.get("transA", 0)
        )
        if node.op_type != "Gemm" or not plain or node.input[1] not in weights:
            nodes.append(node)
            continue
        weight = weights[node.input[1]]
        if attrs.get("transB", 0):
            array = numpy_helper.to_array(weight)
            weight.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(array.T), weight.name))
        product = f"{node.output[0]}_matmul"
        nodes.append(helper.make_node("MatMul", node.input[:2], [product], name=f"{node.name}_matmul"))
        if len(node.input) > 2 and node.input[2]:
            nodes.append(
                helper.make_node("Add", [product, node.input[2]], node.output, name=f"{node.name}_add")
            )
        else:
            nodes.append(helper.make_node("Identity", [product], node.output, name=f"{node.name}_out"))
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.value_info[:]  # shapes of transposed weights changed; the quantiser infers them again
    return model


@contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """The quantiser logs advice on the root logger ('consider pre-processing') that users cannot act on."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)

"""Folding the input standardisation: the same float outputs with fewer nodes, and nothing where it
cannot apply or would not reproduce them."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits

from modelplane.compression.fold import fold_input_normalization, fold_input_normalization_at_load
from modelplane.compression.quantize import _folds
from modelplane.compression.weights import store_weights_int8
from modelplane.models.frameworks import parse_spec
from modelplane.models.onnx_checks import verify_export
from modelplane.models.torch_export import export_torch_onnx
from modelplane.models.torch_zoo import build_torch_model, set_normalization
from modelplane.runtimes.onnx_runtime import OnnxRuntime
from tests.compression.conftest import Zoo

DIGITS = load_digits().data.astype(np.float32)[:200]
RNG = np.random.default_rng(0)


def _runtime(model: onnx.ModelProto) -> OnnxRuntime:
    return OnnxRuntime(model.SerializeToString(), threads=1)


def _served_graph(zoo: Zoo, ref: str) -> onnx.ModelProto:
    version = zoo.local.models.version(ref)
    return onnx.load(str(zoo.local.store.artifacts.verified_path(version.onnx_sha)))


def _dense_graph(
    mean: np.ndarray, std: np.ndarray, *, also_return_standardised: bool = False
) -> onnx.ModelProto:
    """input (N, 4) -> Sub(mean) -> Div(std) -> MatMul(W) -> prediction (N, 3), built by hand."""
    constants = {
        "mean": mean.astype(np.float32),
        "std": std.astype(np.float32),
        "w": RNG.standard_normal((4, 3)).astype(np.float32),
    }
    nodes = [
        helper.make_node("Sub", ["input", "mean"], ["centred"]),
        helper.make_node("Div", ["centred", "std"], ["standardised"]),
        helper.make_node("MatMul", ["standardised", "w"], ["prediction"]),
    ]
    outputs = [helper.make_tensor_value_info("prediction", TensorProto.FLOAT, ["batch", 3])]
    if also_return_standardised:
        outputs.append(helper.make_tensor_value_info("standardised", TensorProto.FLOAT, ["batch", 4]))
    graph = helper.make_graph(
        nodes,
        "dense",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4])],
        outputs,
        [numpy_helper.from_array(v, k) for k, v in constants.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)], ir_version=10)


@pytest.mark.parametrize(("scale", "before_gemm"), [(True, []), (False, ["Mul"])])
def test_folding_the_mlp_keeps_its_float_outputs(zoo: Zoo, scale: bool, before_gemm: list[str]) -> None:
    parent = _served_graph(zoo, zoo.mlp)
    folded = copy.deepcopy(parent)
    assert fold_input_normalization(folded, scale=scale) == ("scale and shift" if scale else "shift")
    ops = [n.op_type for n in folded.graph.node]
    assert ops[: ops.index("Gemm")] == before_gemm and not {"Sub", "Div"} & set(ops)
    assert len(folded.graph.initializer) == len(parent.graph.initializer) - (2 if scale else 1)
    verify_export(_runtime(parent), _runtime(folded), DIGITS, atol=1e-5)  # raises if any output moved


def test_folding_sees_through_the_flatten_of_an_image_input(tmp_path: Path) -> None:
    spec = parse_spec({"kind": "mlp", "task": "classification", "input_shape": [1, 8, 8], "num_outputs": 10})
    model = build_torch_model(spec)
    set_normalization(model, DIGITS.mean(0), DIGITS.std(0))  # border pixels have std 0: stored as 1
    path = export_torch_onnx(model, task="classification", input_shape=[1, 8, 8], path=tmp_path / "m.onnx")
    parent = onnx.load(str(path))
    folded = copy.deepcopy(parent)
    assert fold_input_normalization(folded, scale=True) == "scale and shift"
    assert [n.op_type for n in folded.graph.node][:2] == ["Reshape", "Gemm"]
    verify_export(_runtime(parent), _runtime(folded), DIGITS.reshape(-1, 1, 8, 8), atol=1e-5)


def test_a_matmul_takes_the_shift_as_a_gemm_bias() -> None:
    parent = _dense_graph(RNG.uniform(-2, 2, 4), RNG.uniform(0.5, 3, 4))
    folded = copy.deepcopy(parent)
    assert fold_input_normalization(folded, scale=True) == "scale and shift"
    assert [n.op_type for n in folded.graph.node] == ["Gemm"]
    rows = RNG.uniform(-5, 5, (50, 4)).astype(np.float32)
    verify_export(_runtime(parent), _runtime(folded), rows, atol=1e-5)


@pytest.mark.parametrize(
    "parent",
    [
        _dense_graph(np.zeros(4), np.array([1.0, 0.0, 2.0, 1.0])),  # x / 0 has no finite weight
        _dense_graph(np.ones(4), np.ones(4), also_return_standardised=True),  # it must stay computed
    ],
    ids=["zero-std", "standardised-rows-returned"],
)
def test_what_cannot_fold_is_left_alone(parent: onnx.ModelProto) -> None:
    for scale in (True, False):
        folded = copy.deepcopy(parent)
        assert fold_input_normalization(folded, scale=scale) is None
        assert folded == parent
    folded = copy.deepcopy(parent)
    assert fold_input_normalization_at_load(folded) is None and folded == parent


def test_a_cnn_is_left_alone(zoo: Zoo) -> None:
    parent = _served_graph(zoo, zoo.cnn)
    folded = copy.deepcopy(parent)
    assert fold_input_normalization(folded, scale=True) is None and folded == parent


def test_a_fold_float32_cannot_reproduce_is_not_offered() -> None:
    """b - mean/std @ W cancels catastrophically in float32 when |mean| >> std."""
    rows = RNG.normal(1e4, 2.0, (64, 4)).astype(np.float32)
    far = _dense_graph(np.full(4, 1e4), np.full(4, 2.0))
    for at_load in (False, True):  # computed at load, the bias is the same float32 sum
        assert [how for how, _ in _folds(far, _runtime(far), rows, at_load=at_load)] == []
    near = _dense_graph(np.full(4, 1.0), np.array([1.0, 2.0, 3.0, 4.0]))
    offered = [how for how, _ in _folds(near, _runtime(near), rows - 1e4, at_load=True)]
    assert offered == ["scale and shift at load", "scale and shift", "shift"]


def _loaded_ops(model: onnx.ModelProto, tmp_path: Path) -> list[str]:
    """The nodes of the session ONNX Runtime builds from `model` (serving's optimisation level)."""
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "loaded.onnx")
    ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return [n.op_type for n in onnx.load(str(tmp_path / "loaded.onnx")).graph.node]


def test_folding_at_load_keeps_the_int8_weights_unscaled_and_runs_no_normalisation(
    zoo: Zoo, tmp_path: Path
) -> None:
    parent = _served_graph(zoo, zoo.mlp)
    folded = copy.deepcopy(parent)
    assert fold_input_normalization_at_load(folded) == "scale and shift"
    verify_export(_runtime(parent), _runtime(folded), DIGITS, atol=1e-5)
    stored = {t.name: numpy_helper.to_array(t) for t in parent.graph.initializer}
    first = next(n for n in folded.graph.node if n.op_type == "Mul")  # the scale, applied to the weight
    np.testing.assert_array_equal(
        numpy_helper.to_array(_initializer(folded, first.input[0])), stored[first.input[0]]
    )

    int8 = store_weights_int8(folded, per_channel=False)
    weight = first.input[0]
    assert weight not in {t.name for t in int8.graph.initializer}  # stored int8: the unscaled weight
    verify_export(_runtime(parent), _runtime(int8), DIGITS, atol=0.02)
    ops = _loaded_ops(int8, tmp_path)
    assert not {"Sub", "Div", "Mul", "Cast"} & set(ops)  # all computed once, at load
    assert ops == [o for o in _loaded_ops(parent, tmp_path) if o not in ("Sub", "Div")]


def test_folding_at_load_turns_a_matmul_into_a_gemm() -> None:
    parent = _dense_graph(RNG.uniform(-2, 2, 4), RNG.uniform(0.5, 3, 4))
    folded = copy.deepcopy(parent)
    assert fold_input_normalization_at_load(folded) == "scale and shift"
    assert [n.op_type for n in folded.graph.node] == ["Mul", "Gemm", "Gemm"]
    rows = RNG.uniform(-5, 5, (50, 4)).astype(np.float32)
    verify_export(_runtime(parent), _runtime(folded), rows, atol=1e-5)


def _initializer(model: onnx.ModelProto, name: str) -> onnx.TensorProto:
    return next(t for t in model.graph.initializer if t.name == name)

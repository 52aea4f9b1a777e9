"""int8 weights, float compute: a smaller file that ONNX Runtime turns back into the float model at load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits

from modelplane.compression.weights import check_expanded_at_load, store_weights_int8
from modelplane.errors import IntegrityError, Invalid
from modelplane.registry.loading import load_runtime
from modelplane.registry.registry import delete_version
from modelplane.runtimes.onnx_runtime import OnnxRuntime
from tests.cli_helpers import run_cli
from tests.compression.conftest import Zoo

DIGITS = load_digits().data.astype(np.float32)


def _served(zoo: Zoo, ref: str) -> onnx.ModelProto:
    version = zoo.local.models.version(ref)
    return onnx.load(str(zoo.local.store.artifacts.verified_path(version.onnx_sha)))


def _int8_shapes(model: onnx.ModelProto) -> list[list[int]]:
    return [list(t.dims) for t in model.graph.initializer if t.data_type == TensorProto.INT8]


def _assert_close_to_parent(zoo: Zoo, parent: str, child: str) -> None:
    """Rounding weights to 127 levels moves probabilities by ~1e-4 on average here; labels move only on
    near-ties (the one-epoch cnn's outputs are flat: 0.8% of its rows)."""
    store = zoo.local.store
    before = load_runtime(store, zoo.local.models.version(parent)).predict(DIGITS)
    after = load_runtime(store, zoo.local.models.version(child)).predict(DIGITS)
    error = np.abs(before["probabilities"] - after["probabilities"])
    assert error.mean() < 0.002 and error.max() < 0.05
    assert np.mean(before["label"] == after["label"]) > 0.98


def test_cli_weights_mode_makes_a_smaller_float_compute_version(
    zoo: Zoo, cli_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    made = run_cli(capsys, "compress", zoo.mlp, "--quantize", "int8", "--mode", "weights", "--json")
    assert made.code == 0, made.err
    data = made.json()
    version = zoo.local.models.version(f"{data['version']['model']}@{data['version']['version']}")
    compression = version.params["compression"]
    assert compression["mode"] == "weights" and compression["compute"] == "float"
    assert compression["int8_tensors"] == 2 and "expands the weights to float32" in compression["storage"]
    assert compression["folded_normalization"] == "scale and shift at load"
    assert version.parent == zoo.mlp and version.framework == "onnx"

    parent, child = data["report"]["versions"]
    assert child["method"] == "int8 weights, float compute"
    # 4x on the weights; on this 13 KB toy graph the mean and std (kept to fold at load) weigh in too.
    assert child["file_bytes"] < 0.36 * parent["file_bytes"]
    _assert_close_to_parent(zoo, zoo.mlp, version.ref)
    ops = {n.op_type for n in _served(zoo, version.ref).graph.node}
    assert {"Cast", "Gemm"} <= ops and not {"MatMulInteger", "DequantizeLinear", "QuantizeLinear"} & ops
    delete_version(zoo.local.store, version.ref)


def test_weights_mode_covers_convolutions_per_channel(zoo: Zoo) -> None:
    version = zoo.local.compress(zoo.cnn, quantize="int8", mode="weights", per_channel=True).version
    made = version.params["compression"]
    assert made["per_channel"] and made["int8_tensors"] == 4  # two kernels, two dense weights
    model = _served(zoo, version.ref)
    assert [4, 1, 3, 3] in _int8_shapes(model)  # the first kernel, one scale per output channel
    scales = {tuple(t.dims) for t in model.graph.initializer if t.data_type == TensorProto.FLOAT}
    assert (4, 1, 1, 1) in scales
    _assert_close_to_parent(zoo, zoo.cnn, version.ref)
    delete_version(zoo.local.store, version.ref)


def _dense(weight: np.ndarray, op: str) -> onnx.ModelProto:
    """input (N, 4) -> op(W) -> output, built by hand; MatMul reads W as (4, units), Gemm with transB."""
    node = helper.make_node(op, ["input", "w"], ["output"])
    if op == "Gemm":
        node.attribute.append(helper.make_attribute("transB", 1))
    graph = helper.make_graph(
        [node],
        "dense",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(weight.astype(np.float32), "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)], ir_version=10)


def _column_errors(source: onnx.ModelProto, stored: onnx.ModelProto) -> np.ndarray:
    """Worst |error| of each output column relative to that column's largest value."""
    x = np.random.default_rng(1).standard_normal((8, 4)).astype(np.float32)
    expected = OnnxRuntime(source.SerializeToString()).predict(x)["output"]
    got = OnnxRuntime(stored.SerializeToString()).predict(x)["output"]
    return np.max(np.abs(got - expected), axis=0) / np.max(np.abs(expected), axis=0)


@pytest.mark.parametrize(("op", "shape", "scales"), [("MatMul", (4, 3), (1, 3)), ("Gemm", (3, 4), (3, 1))])
def test_per_channel_scales_run_along_the_outputs(
    op: str, shape: tuple[int, int], scales: tuple[int, int], tmp_path: Path
) -> None:
    # Output channels 10^4 apart: one scale for the tensor rounds the smallest to zero.
    weight = np.random.default_rng(0).standard_normal(shape) * np.array([1.0, 100.0, 0.01]).reshape(scales)
    source = _dense(weight, op)
    stored = store_weights_int8(source, per_channel=True)
    assert source.graph.initializer[0].data_type == TensorProto.FLOAT  # the source is left as it was
    assert {tuple(t.dims) for t in stored.graph.initializer if t.data_type == TensorProto.FLOAT} == {scales}
    assert np.all(_column_errors(source, stored) < 0.02)
    assert _column_errors(source, store_weights_int8(source, per_channel=False))[2] > 0.5
    path = tmp_path / "stored.onnx"
    onnx.save(stored, str(path))
    check_expanded_at_load(path, tmp_path)


def test_expansion_check_refuses_weights_left_int8_at_run_time(tmp_path: Path) -> None:
    """DequantizeLinear is the standard op, but ONNX Runtime keeps it out of constant folding (for its QDQ
    fusions): the weights would be dequantised on every call. That is why the mode uses Cast x scale."""
    model = _dense(np.ones((4, 3)), "MatMul")
    model.graph.initializer[0].CopyFrom(numpy_helper.from_array(np.ones((4, 3), np.int8), "w_int8"))
    model.graph.initializer.append(numpy_helper.from_array(np.array(0.5, np.float32), "w_scale"))
    model.graph.node.insert(0, helper.make_node("DequantizeLinear", ["w_int8", "w_scale"], ["w"]))
    path = tmp_path / "dq.onnx"
    onnx.save(model, str(path))
    with pytest.raises(IntegrityError, match="kept 1 int8 weight"):
        check_expanded_at_load(path, tmp_path)


def test_weights_mode_refuses_what_it_cannot_store(zoo: Zoo) -> None:
    with pytest.raises(Invalid, match=r"scikit-learn random_forest .* neural networks"):
        zoo.local.compress(zoo.forest, quantize="int8", mode="weights")
    with pytest.raises(Invalid, match="use one of dynamic, static, weights"):
        zoo.local.compress(zoo.mlp, quantize="int8", mode="weight")

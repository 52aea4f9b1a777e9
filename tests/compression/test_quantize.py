"""int8 versions: ONNX-only, servable through load_runtime, with lineage, metrics and honest refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto
from sklearn.datasets import load_digits

from modelplane.errors import Conflict, Invalid
from modelplane.evaluation.versions import evaluate_version
from modelplane.registry.export_files import export_version
from modelplane.registry.loading import load_native, load_runtime
from modelplane.registry.registry import delete_version
from modelplane.runtimes.base import Runtime
from modelplane.runtimes.onnx_runtime import OnnxRuntime
from tests.compression.conftest import Zoo

ROWS = np.random.default_rng(0).uniform(0, 16, (5, 64)).astype(np.float32)
DIGITS = load_digits().data.astype(np.float32)


def _int8_tensors(model: onnx.ModelProto) -> int:
    return sum(1 for t in model.graph.initializer if t.data_type == TensorProto.INT8 and len(t.dims) > 1)


def test_dynamic_int8_is_the_served_graph(zoo: Zoo, tmp_path: Path) -> None:
    store = zoo.local.store
    result = zoo.local.compress(zoo.mlp, quantize="int8")
    version = result.version
    assert version.model == zoo.mlp.split("@")[0] and version.parent == zoo.mlp
    assert version.framework == "onnx" and version.weights_sha == version.onnx_sha
    made = version.params["compression"]
    assert made["method"] == "quantize" and made["mode"] == "dynamic" and made["int8_tensors"] == 2
    # Folding the std into the weights would stretch the rows of near-constant pixels over the int8 range.
    assert made["folded_normalization"] == "shift"
    assert version.params["split"] == zoo.local.models.version(zoo.mlp).params["split"]
    assert version.metrics["test"]["accuracy"] > 0.5
    assert version.metrics["agreement_with_parent"]["label_agreement"] > 0.9

    model = onnx.load(str(store.artifacts.verified_path(version.onnx_sha)))
    ops = [n.op_type for n in model.graph.node]
    assert _int8_tensors(model) == 2 and "MatMulInteger" in ops
    assert ops[0] == "Mul" and not {"Sub", "Div"} & set(ops)  # one Mul where Sub and Div were
    assert [i.name for i in model.graph.input] == ["input"]
    assert [o.name for o in model.graph.output] == ["label", "probabilities"]
    assert not model.graph.value_info and max(len(t.name) for t in model.graph.initializer) <= 2
    runtime = load_runtime(store, version, "native")  # ONNX Runtime is an int8 graph's native runtime
    assert isinstance(runtime, OnnxRuntime)
    out = runtime.predict(ROWS)
    assert out["label"].shape == (5,) and out["probabilities"].shape == (5, 10)
    _assert_within_int8_error(load_runtime(store, zoo.local.models.version(zoo.mlp)), runtime)

    native = evaluate_version(store, version.ref, "digits", runtime="native")
    assert native.metrics["accuracy"] == pytest.approx(version.metrics["test"]["accuracy"])
    with pytest.raises(Invalid, match=f"exists only as an ONNX graph .*{zoo.mlp}"):
        load_native(store, version)
    with pytest.raises(Invalid, match="ONNX-only"):
        export_version(store, version.ref, "torchscript", tmp_path)
    assert export_version(store, version.ref, "onnx", tmp_path)[0].suffix == ".onnx"

    parent, child = result.report.versions
    assert child.file_bytes < parent.file_bytes and child.parameters == parent.parameters
    with pytest.raises(Conflict, match="is the parent of"):
        delete_version(store, zoo.mlp)
    delete_version(store, version.ref)


def _assert_within_int8_error(parent: Runtime, child: Runtime) -> None:
    """int8 moves probabilities by ~0.001 on average here; a bad fold moved them by 0.04 (and up to 0.99)."""
    before, after = parent.predict(DIGITS), child.predict(DIGITS)
    error = np.abs(before["probabilities"] - after["probabilities"])
    assert error.mean() < 0.005 and error.max() < 0.1
    assert np.mean(before["label"] == after["label"]) > 0.98


def test_static_int8_calibrates_convolutions(zoo: Zoo) -> None:
    version = zoo.local.compress(zoo.cnn, quantize="int8", mode="static", calibration_rows=64).version
    made = version.params["compression"]
    assert made["mode"] == "static" and made["calibration_rows"] == 64
    assert made["folded_normalization"] is None  # a Conv reads the standardised rows: nothing folds
    model = onnx.load(str(zoo.local.store.artifacts.verified_path(version.onnx_sha)))
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    assert _int8_tensors(model) >= 3  # both kernels and the dense weights
    out = load_runtime(zoo.local.store, version).predict(ROWS)
    assert out["probabilities"].shape == (5, 10)
    assert version.parent == zoo.cnn and "accuracy" in version.metrics["test"]
    assert version.metrics["agreement_with_parent"]["label_agreement"] > 0.9
    # The scores leave the last layer in float: no Quantize/Dequantize pair in front of the Softmax.
    softmax = next(n for n in model.graph.node if n.op_type == "Softmax")
    assert next(n for n in model.graph.node if softmax.input[0] in n.output).op_type == "Gemm"


def test_static_int8_mlp_runs_as_fused_int8_layers_with_float_scores(zoo: Zoo, tmp_path: Path) -> None:
    version = zoo.local.compress(zoo.mlp, quantize="int8", mode="static", calibration_rows=256).version
    path = zoo.local.store.artifacts.verified_path(version.onnx_sha)
    optimised = tmp_path / "loaded.onnx"
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(optimised)
    ort.InferenceSession(str(path), options)
    ops = [n.op_type for n in onnx.load(str(optimised)).graph.node]
    assert ops.count("QGemm") == 2 and "DequantizeLinear" not in ops  # as ONNX Runtime runs it
    before = load_runtime(zoo.local.store, zoo.local.models.version(zoo.mlp)).predict(DIGITS)
    after = OnnxRuntime(path).predict(DIGITS)
    # Calibrated activation ranges clip a rare row (max error ~0.25 here, with or without a float tail).
    assert np.abs(before["probabilities"] - after["probabilities"]).mean() < 0.005
    assert np.mean(before["label"] == after["label"]) > 0.98


def test_unquantisable_and_misused_options_are_refused(zoo: Zoo) -> None:
    with pytest.raises(Invalid, match=r"scikit-learn random_forest .* neural networks"):
        zoo.local.compress(zoo.forest, quantize="int8")
    with pytest.raises(Invalid, match="supported: int8"):
        zoo.local.compress(zoo.mlp, quantize="int4")
    with pytest.raises(Invalid, match="--structured does not apply to --quantize"):
        zoo.local.compress(zoo.mlp, quantize="int8", structured=True)
    with pytest.raises(Invalid, match="choose one of"):
        zoo.local.compress(zoo.mlp, quantize="int8", prune=0.5)

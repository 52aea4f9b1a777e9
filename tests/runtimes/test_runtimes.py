"""Every runtime gives the same output contract, whatever the framework behind it."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper
from sklearn.datasets import load_diabetes, load_digits
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from torch import nn

from modelplane.cores import usable_cores
from modelplane.errors import Invalid, NotFound
from modelplane.runtimes.onnx_runtime import OnnxRuntime
from modelplane.runtimes.sklearn_runtime import SklearnRuntime
from modelplane.runtimes.torch_runtime import TorchRuntime


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    return x.astype(np.float32).reshape(-1, 8, 8)[:400], y[:400]


@pytest.fixture(scope="module")
def diabetes() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_diabetes(return_X_y=True)
    return x.astype(np.float32), y


def assert_classification(out: dict[str, np.ndarray], n: int, n_classes: int) -> None:
    assert set(out) == {"label", "probabilities"}
    assert out["label"].dtype == np.int64 and out["label"].shape == (n,)
    assert out["probabilities"].dtype == np.float32 and out["probabilities"].shape == (n, n_classes)
    np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(out["label"], out["probabilities"].argmax(axis=1))


def assert_regression(out: dict[str, np.ndarray], n: int, k: int = 1) -> None:
    assert set(out) == {"prediction"}
    assert out["prediction"].dtype == np.float32 and out["prediction"].shape == (n, k)


def test_torch_classification_contract_and_uint8(digits):
    torch.manual_seed(0)
    module = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
    runtime = TorchRuntime(module, task="classification")
    x = digits[0][:7]
    out = runtime.predict(x)
    assert_classification(out, 7, 10)
    assert runtime.input_name == "input" and runtime.output_names == ["label", "probabilities"]
    logits = module(torch.from_numpy(x)).detach()
    np.testing.assert_allclose(out["probabilities"], torch.softmax(logits, -1).numpy(), atol=1e-6)
    as_uint8 = runtime.predict(x.astype(np.uint8))
    np.testing.assert_array_equal(as_uint8["probabilities"], out["probabilities"])


def test_torch_cnn_and_regression(digits, diabetes):
    cnn = nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 3)
    )
    assert_classification(
        TorchRuntime(cnn, task="classification").predict(digits[0][:5].reshape(5, 64)), 5, 3
    )
    reg = TorchRuntime(nn.Sequential(nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 2)), task="regression")
    assert_regression(reg.predict(diabetes[0][:9]), 9, k=2)
    assert reg.output_names == ["prediction"]


def test_unknown_task_is_refused():
    with pytest.raises(Invalid, match="unknown task"):
        TorchRuntime(nn.Linear(2, 2), task="ranking")


def test_sklearn_label_is_class_index_not_class_value(digits):
    x, y = digits
    names = np.array([f"digit-{d}" for d in range(10)])
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=200)).fit(
        x.reshape(len(x), -1), names[y]
    )
    runtime = SklearnRuntime(pipeline, task="classification", input_shape=(8, 8))
    out = runtime.predict(x[:50])
    assert_classification(out, 50, 10)
    np.testing.assert_array_equal(pipeline.classes_[out["label"]], pipeline.predict(x[:50].reshape(50, -1)))
    assert_classification(runtime.predict(x[:3].astype(np.uint8)), 3, 10)


def test_sklearn_rejects_bad_shapes_and_dtypes(digits):
    x, y = digits
    pipeline = make_pipeline(LogisticRegression(max_iter=100)).fit(x.reshape(len(x), -1), y)
    runtime = SklearnRuntime(pipeline, task="classification", input_shape=(8, 8))
    with pytest.raises(Invalid, match=r"takes \(N, 8, 8\)"):
        runtime.predict(x.reshape(len(x), -1))
    with pytest.raises(Invalid, match="real numeric"):
        runtime.predict(np.full((1, 8, 8), "a"))


def test_sklearn_classifier_without_probabilities_is_refused(digits):
    x, y = digits
    pipeline = make_pipeline(SVC()).fit(x.reshape(len(x), -1)[:100], y[:100])
    with pytest.raises(Invalid, match="predict_proba"):
        SklearnRuntime(pipeline, task="classification", input_shape=(8, 8))
    with pytest.raises(Invalid, match="task='classification'"):
        SklearnRuntime(pipeline, task="regression", input_shape=(8, 8))


@pytest.mark.parametrize("targets", [1, 2])
def test_sklearn_regression_is_2d(diabetes, targets):
    x, y = diabetes
    y = y if targets == 1 else np.c_[y, y / 10]
    for estimator in (Ridge(), RandomForestRegressor(n_estimators=5, random_state=0)):
        pipeline = make_pipeline(StandardScaler(), estimator).fit(x, y)
        out = SklearnRuntime(pipeline, task="regression", input_shape=(10,)).predict(x[:11])
        assert_regression(out, 11, k=targets)
        np.testing.assert_allclose(
            out["prediction"].reshape(11, -1), pipeline.predict(x[:11]).reshape(11, -1), rtol=1e-6
        )


def softmax_graph() -> onnx.ModelProto:
    """(N, 2, 2) -> Flatten -> MatMul -> Softmax, plus ArgMax: the contract, built by hand."""
    weights = helper.make_tensor("w", TensorProto.FLOAT, [4, 3], np.arange(12, dtype=np.float32) / 10)
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["input"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "w"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
            helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0),
        ],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 2, 2])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, ["batch"]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 3]),
        ],
        initializer=[weights],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_onnx_runtime_from_bytes_and_path(tmp_path: Path):
    model = softmax_graph()
    path = tmp_path / "tiny.onnx"
    onnx.save(model, str(path))
    x = np.arange(20, dtype=np.float32).reshape(5, 2, 2) / 20
    from_bytes = OnnxRuntime(model.SerializeToString())
    from_path = OnnxRuntime(path, threads=1)
    assert from_bytes.input_name == "input" and from_bytes.output_names == ["label", "probabilities"]
    out = from_bytes.predict(x)
    assert_classification(out, 5, 3)
    expected = np.exp(x.reshape(5, 4) @ (np.arange(12, dtype=np.float32).reshape(4, 3) / 10))
    np.testing.assert_allclose(out["probabilities"], expected / expected.sum(1, keepdims=True), atol=1e-6)
    np.testing.assert_array_equal(from_path.predict(x)["label"], out["label"])
    assert_classification(from_path.predict(np.zeros((2, 2, 2), np.uint8)), 2, 3)


def test_onnx_runtime_session_settings(caplog):
    with caplog.at_level(logging.WARNING):
        runtime = OnnxRuntime(softmax_graph().SerializeToString(), providers=["NoSuchExecutionProvider"])
    assert runtime._session.get_providers() == ["CPUExecutionProvider"]
    assert "NoSuchExecutionProvider" in caplog.text
    options = runtime._session.get_session_options()
    assert options.intra_op_num_threads == usable_cores()
    assert options.inter_op_num_threads == 1


def test_onnx_runtime_errors(tmp_path: Path):
    with pytest.raises(NotFound, match="export the model first"):
        OnnxRuntime(tmp_path / "missing.onnx")
    runtime = OnnxRuntime(softmax_graph().SerializeToString())
    with pytest.raises(Invalid, match=r"takes \(N, 2, 2\)"):
        runtime.predict(np.zeros((3, 4), np.float32))

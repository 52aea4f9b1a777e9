"""Importing ONNX files: signature read from the graph, rewired to the contract, refused with one line."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import onnx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from onnx import TensorProto, helper

from modelplane.errors import Invalid, NotFound
from modelplane.registry.imports import ImportOptions, import_model
from modelplane.registry.loading import load_runtime
from modelplane.registry.registry import list_models
from modelplane.store import Store
from tests.registry.import_files import expected_logits, linear_onnx, softmax


def test_onnx_classifier_serves_softmax_of_its_logits_with_the_classes_given(
    store: Store, tmp_path: Path
) -> None:
    path = linear_onnx(tmp_path / "clf.onnx")
    info = import_model(store, "clf", path, ImportOptions(classes=("a", "b", "c")), by="alice")

    assert (info.ref, info.task, info.framework, info.kind) == ("clf@1", "classification", "onnx", "imported")
    assert info.classes == ["a", "b", "c"] and info.input_shape == [4]
    imported = info.params["imported"]
    assert imported["format"] == "onnx" and imported["file"] == "clf.onnx"
    assert imported["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert imported["signature"]["inputs"] == [{"name": "x", "dtype": "float32", "shape": ["N", 4]}]
    assert imported["signature"]["outputs"][0]["name"] == "logits"
    x = np.random.default_rng(3).normal(size=(7, 4)).astype(np.float32)
    out = load_runtime(store, info).predict(x)
    np.testing.assert_allclose(out["probabilities"], softmax(expected_logits(x)), atol=1e-5)
    np.testing.assert_array_equal(out["label"], expected_logits(x).argmax(1))


def test_a_graph_ending_in_softmax_is_not_softmaxed_again(store: Store, tmp_path: Path) -> None:
    info = import_model(
        store, "probs", linear_onnx(tmp_path / "p.onnx", softmax=True, out_name="probabilities")
    )
    assert info.task == "regression"  # nothing says classifier: no --classes, no label output
    info = import_model(
        store, "probs2", linear_onnx(tmp_path / "p.onnx", softmax=True), ImportOptions(task="classification")
    )
    x = np.ones((2, 4), np.float32)
    out = load_runtime(store, info).predict(x)
    np.testing.assert_allclose(out["probabilities"], softmax(expected_logits(x)), atol=1e-5)
    assert info.classes == ["0", "1", "2"]


def test_one_logit_column_is_a_binary_classifier_with_sigmoid_probabilities(
    store: Store, tmp_path: Path
) -> None:
    info = import_model(
        store, "bin", linear_onnx(tmp_path / "b.onnx", outputs=1), ImportOptions(classes=("no", "yes"))
    )
    x = np.random.default_rng(4).normal(size=(6, 4)).astype(np.float32)
    p = 1 / (1 + np.exp(-expected_logits(x, 1)[:, 0]))
    out = load_runtime(store, info).predict(x)
    np.testing.assert_allclose(out["probabilities"], np.stack([1 - p, p], axis=1), atol=1e-5)
    assert info.spec["num_outputs"] == 2 and (out["label"] == (p > 0.5)).all()


def test_onnx_regressor_with_float64_input_and_reference_rows(store: Store, tmp_path: Path) -> None:
    reference = tmp_path / "ref.parquet"
    rows = np.arange(12, dtype=np.float64).reshape(3, 4)
    pq.write_table(pa.table({f"f{i}": rows[:, i] for i in range(4)}), reference)
    path = linear_onnx(tmp_path / "reg.onnx", in_type=TensorProto.DOUBLE, outputs=1, in_name="input")
    info = import_model(store, "reg", path, ImportOptions(reference=reference))

    assert info.task == "regression" and info.spec["num_outputs"] == 1
    assert "reference" in info.artifacts
    assert info.params["imported"]["reference"]["rows"] == 3
    assert info.params["imported"]["verified_on"] == "the reference's first row"
    x = rows.astype(np.float32)
    np.testing.assert_allclose(
        load_runtime(store, info).predict(x)["prediction"], expected_logits(x, 1), atol=1e-5
    )


def test_skl2onnx_classifier_with_zipmap_keeps_its_class_labels(store: Store, tmp_path: Path) -> None:
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    from tests.registry.import_files import iris_like

    x, y = iris_like()
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    model = LogisticRegression(max_iter=500).fit(x, names)
    path = tmp_path / "lr.onnx"
    path.write_bytes(to_onnx(model, x[:1]).SerializeToString())
    info = import_model(store, "lr", path)

    assert info.task == "classification" and info.classes == ["setosa", "versicolor", "virginica"]
    out = load_runtime(store, info).predict(x)
    np.testing.assert_allclose(out["probabilities"], model.predict_proba(x), atol=1e-4)
    assert (out["label"] == model.predict_proba(x).argmax(1)).all()


def _two_inputs(path: Path) -> Path:
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["y"])],
        "two",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 2]) for n in ("a", "b")],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def _new_opset(path: Path) -> Path:
    linear_onnx(path)
    model = onnx.load(str(path))
    model.opset_import[0].version = onnx.defs.onnx_opset_version() + 5
    onnx.save(model, str(path))
    return path


def _no_rank(path: Path) -> Path:
    linear_onnx(path)
    model = onnx.load(str(path))
    model.graph.input[0].type.tensor_type.ClearField("shape")
    onnx.save(model, str(path))
    return path


def _broken(path: Path) -> Path:
    """A graph that passes the checker but that ONNX Runtime cannot run (MatMul of mismatched widths)."""
    return linear_onnx(path, shape=["N", 5])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_two_inputs, "takes 2 inputs (a, b)"),
        (_new_opset, "newer than the"),
        (_no_rank, "has unknown rank"),
        (lambda p: linear_onnx(p, shape=[1, 4]), "fixes the batch size to 1"),
        (lambda p: linear_onnx(p, shape=["N", "F"]), "is not a fixed size"),
        (lambda p: (p.write_bytes(b"not a model at all"), p)[1], "not a readable ONNX model"),
        (_broken, "ONNX Runtime cannot load bad.onnx: Node () Op (MatMul) [ShapeInferenceError]"),
    ],
)
def test_bad_onnx_is_refused_in_one_line_and_nothing_is_registered(
    store: Store, tmp_path: Path, make: object, message: str
) -> None:
    path = make(tmp_path / "bad.onnx")  # type: ignore[operator]
    with pytest.raises(Invalid, match=re.escape(message)) as refused:
        import_model(store, "bad", path)
    assert "\n" not in str(refused.value)
    assert list_models(store) == []


def test_options_that_do_not_fit_are_refused(store: Store, tmp_path: Path) -> None:
    path = linear_onnx(tmp_path / "m.onnx")
    with pytest.raises(Invalid, match="names 2 labels but the model gives 3"):
        import_model(store, "m", path, ImportOptions(classes=("a", "b")))
    with pytest.raises(Invalid, match="--evaluate needs test data"):
        import_model(store, "m", path, ImportOptions(evaluate=True))
    with pytest.raises(Invalid, match="unknown task"):
        import_model(store, "m", path, ImportOptions(task="ranking"))
    with pytest.raises(NotFound, match="no such file"):
        import_model(store, "m", tmp_path / "missing.onnx")
    pickled = tmp_path / "m.pkl"
    pickled.write_bytes(b"\x80\x04N.")
    with pytest.raises(Invalid, match="is a pickle"):
        import_model(store, "m", pickled)
    assert list_models(store) == []


def test_a_second_import_is_the_next_version(store: Store, tmp_path: Path) -> None:
    path = linear_onnx(tmp_path / "m.onnx")
    import_model(store, "m", path, ImportOptions(task="classification"))
    again = import_model(store, "m", path, ImportOptions(task="classification"))
    assert again.version == 2
    with pytest.raises(Exception, match="is a classification model"):
        import_model(store, "m", linear_onnx(tmp_path / "r.onnx", outputs=1))

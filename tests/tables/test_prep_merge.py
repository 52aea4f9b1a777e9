"""The served graph: preprocessing merged in front of models written by modelplane's exporters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from modelplane.errors import Invalid
from modelplane.tables.columns import Column
from modelplane.tables.prep import PrepOptions, Preprocessor
from tests.tables.tables_helpers import COLUMNS, held_out, mixed


@pytest.fixture(scope="module")
def prep() -> Preprocessor:
    return Preprocessor.fit(mixed(150, 0), COLUMNS, PrepOptions(max_categories=4))


def run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds), strict=True))


def column_feeds(prep: Preprocessor, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    blocks = prep.blocks(rows)
    feeds = {}
    for block, roles in (
        ("numeric", ("numeric", "boolean")),
        ("categorical", ("categorical",)),
        ("datetime", ("datetime",)),
    ):
        names = [c.name for c in prep.columns if c.role in roles]
        feeds.update({name: blocks[block][:, j : j + 1] for j, name in enumerate(names)})
    return feeds


def check_merged(prep: Preprocessor, model: onnx.ModelProto, outputs: list[str]) -> None:
    rows = held_out(40, 1)
    alone = run(model, {"input": prep.transform(rows)})
    for layout in ("blocks", "columns"):
        merged = prep.merged_with(model, layout=layout)  # type: ignore[arg-type]
        onnx.checker.check_model(merged, full_check=True)
        assert [o.name for o in merged.graph.output] == [*outputs, "unknown"]
        feeds = prep.blocks(rows) if layout == "blocks" else column_feeds(prep, rows)
        served = run(merged, feeds)
        for name in outputs:
            np.testing.assert_allclose(served[name], alone[name], rtol=0, atol=1e-6)
        assert served["unknown"].sum(axis=0).tolist() == list(prep.unknown_counts(rows).values())


def test_merged_with_an_exported_logistic_regression(prep: Preprocessor, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from modelplane.models.sklearn_export import export_sklearn_onnx

    train = mixed(150, 0)
    target = (np.nan_to_num(train["tenure"], nan=20.0) > 20).astype(int)
    pipeline = make_pipeline(LogisticRegression(max_iter=1000)).fit(prep.transform(train), target)
    path = export_sklearn_onnx(
        pipeline, task="classification", input_shape=[prep.width], path=tmp_path / "m.onnx"
    )
    model = onnx.load(str(path))
    assert ("ai.onnx.ml", 1) in [(o.domain, o.version) for o in model.opset_import]
    check_merged(prep, model, ["label", "probabilities"])
    merged = prep.merged_with(model)
    assert sorted((o.domain, o.version) for o in merged.opset_import) == [("", 22), ("ai.onnx.ml", 2)]
    rows = held_out(40, 1)
    probabilities = pipeline.predict_proba(prep.transform(rows))
    np.testing.assert_allclose(run(merged, prep.blocks(rows))["probabilities"], probabilities, atol=1e-5)


def test_merged_with_an_exported_torch_mlp(prep: Preprocessor, tmp_path: Path) -> None:
    from modelplane.models.spec import MLPSpec
    from modelplane.models.torch_export import export_torch_onnx
    from modelplane.models.torch_zoo import build_torch_model

    spec = MLPSpec(kind="mlp", task="regression", input_shape=[prep.width], num_outputs=1, hidden=[8])
    path = export_torch_onnx(
        build_torch_model(spec).eval(), task="regression", input_shape=[prep.width], path=tmp_path / "m.onnx"
    )
    check_merged(prep, onnx.load(str(path)), ["prediction"])


def matmul_model(width: int, *, output: str = "prediction", opset: int = 18) -> onnx.ModelProto:
    weights = np.linspace(-1, 1, width, dtype=np.float32).reshape(width, 1)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input", "w"], [output])],
        "linear",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch", 1])],
        [numpy_helper.from_array(weights, "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def test_merged_with_a_hand_built_graph_at_its_opset_and_ir_version(prep: Preprocessor) -> None:
    model = matmul_model(prep.width, opset=17)
    check_merged(prep, model, ["prediction"])
    merged = prep.merged_with(model)
    assert merged.ir_version == 8
    assert "StringConcat" not in {n.op_type for n in merged.graph.node}  # opset 17 has none


def test_merge_refuses_a_model_of_another_width_or_input(prep: Preprocessor) -> None:
    with pytest.raises(
        Invalid, match=f"takes {prep.width + 1} features but the preprocessing makes {prep.width}"
    ):
        prep.merged_with(matmul_model(prep.width + 1))
    renamed = matmul_model(prep.width)
    renamed.graph.input[0].name = "x"
    renamed.graph.node[0].input[0] = "x"
    with pytest.raises(Invalid, match="not one 'input'"):
        prep.merged_with(renamed)


def test_merge_keeps_column_names_apart_from_the_models_tensors() -> None:
    """A column may be called like a tensor inside the model ("w", "input"); only the outputs are refused."""
    columns = [Column("input", "numeric"), Column("w", "numeric")]
    values = {"input": np.array([1.0, 2.0, np.nan]), "w": np.array([3.0, np.nan, 4.0])}
    prep = Preprocessor.fit(values, columns, PrepOptions(missing_indicator=False))
    merged = prep.merged_with(matmul_model(2), layout="columns")
    feeds = {"input": np.array([[1.0]], np.float32), "w": np.array([[np.nan]], np.float32)}
    assert run(merged, feeds)["prediction"][0, 0] == pytest.approx(-1.0 + 3.5)
    clash = Preprocessor.fit(
        {"prediction": values["input"], "w": values["w"]}, [Column("prediction", "numeric"), columns[1]]
    )
    with pytest.raises(Invalid, match="outputs named \\['prediction'\\]"):
        clash.merged_with(matmul_model(clash.width), layout="columns")

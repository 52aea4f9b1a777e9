"""The preprocessing graph itself: its inputs and outputs, both layouts, opsets, the datetime arithmetic."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from modelplane.errors import Invalid
from modelplane.tables.columns import Column
from modelplane.tables.datetime_parts import datetime_parts
from modelplane.tables.prep import PrepOptions, Preprocessor
from tests.tables.tables_helpers import COLUMNS, held_out, mixed


@pytest.fixture(scope="module")
def prep() -> Preprocessor:
    return Preprocessor.fit(mixed(150, 0), COLUMNS, PrepOptions(max_categories=4))


def run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds), strict=True))


def test_blocks_layout_contract(prep: Preprocessor) -> None:
    graph = prep.onnx_graph().graph
    shapes = {
        i.name: (
            i.type.tensor_type.elem_type,
            [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim],
        )
        for i in [*graph.input, *graph.output]
    }
    assert shapes == {
        "numeric": (onnx.TensorProto.FLOAT, ["batch", 3]),
        "categorical": (onnx.TensorProto.STRING, ["batch", 2]),
        "datetime": (onnx.TensorProto.DOUBLE, ["batch", 1]),
        "features": (onnx.TensorProto.FLOAT, ["batch", prep.width]),
        "unknown": (onnx.TensorProto.INT64, ["batch", 2]),
    }
    rows = held_out(30, 1)
    feeds = prep.blocks(rows)
    assert feeds["categorical"][:4, 0].tolist() == ["enterprise", "", "", "rare"]
    out = run(prep.onnx_graph(), feeds)
    assert np.array_equal(out["features"], prep.reference_transform(rows))
    assert out["unknown"].dtype == np.int64 and out["unknown"].shape == (30, 2)


def test_columns_layout_takes_one_input_per_column(prep: Preprocessor) -> None:
    model = prep.onnx_graph(layout="columns")
    assert [i.name for i in model.graph.input] == ["tenure", "active", "age", "plan", "region", "signup"]
    rows = held_out(30, 1)
    blocks = prep.blocks(rows)
    feeds = {
        "tenure": blocks["numeric"][:, 0:1],
        "active": blocks["numeric"][:, 1:2],
        "age": blocks["numeric"][:, 2:3],
        "plan": blocks["categorical"][:, 0:1],
        "region": blocks["categorical"][:, 1:2],
        "signup": blocks["datetime"],
    }
    out = run(model, feeds)
    assert np.array_equal(out["features"], prep.transform(rows))
    assert out["unknown"].sum(axis=0).tolist() == list(prep.unknown_counts(rows).values())


def test_columns_layout_refuses_a_column_named_like_an_output() -> None:
    columns = [Column("features", "numeric"), Column("b", "numeric")]
    prep = Preprocessor.fit({"features": np.arange(5.0), "b": np.arange(5.0)}, columns)
    with pytest.raises(Invalid, match="column 'features' cannot be a graph input"):
        prep.onnx_graph(layout="columns")
    assert prep.onnx_graph().graph.input[0].name == "numeric"


@pytest.mark.parametrize("opset", [13, 17, 20, 21])
@pytest.mark.parametrize("encoding", ["onehot", "ordinal"])
def test_every_supported_opset_computes_the_same_features(opset: int, encoding: str) -> None:
    """Below opset 20 each categorical column has its own LabelEncoder; from 20 one LabelEncoder reads them
    all through StringConcat."""
    prep = Preprocessor.fit(mixed(150, 0), COLUMNS, PrepOptions(encoding=encoding, max_categories=4))  # type: ignore[arg-type]
    model = prep.onnx_graph(opset=opset)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", opset), ("ai.onnx.ml", 2)]
    assert ("StringConcat" in {n.op_type for n in model.graph.node}) == (opset >= 20 and encoding == "onehot")
    rows = held_out(30, 1)
    out = run(model, prep.blocks(rows))
    assert np.array_equal(out["features"], prep.reference_transform(rows))
    assert out["unknown"].sum(axis=0).tolist() == list(prep.unknown_counts(rows).values())


def test_opsets_outside_the_supported_range_are_refused(prep: Preprocessor) -> None:
    with pytest.raises(Invalid, match="opset 13 to"):
        prep.onnx_graph(opset=12)
    with pytest.raises(Invalid, match="layout must be one of blocks, columns"):
        prep.onnx_graph(layout="rows")  # type: ignore[arg-type]


def test_a_table_without_categorical_columns_has_no_unknown_output() -> None:
    columns = [Column("x", "numeric"), Column("when", "datetime")]
    values = {"x": np.array([1.0, np.nan, 3.0]), "when": np.array([0.0, 86400.0, np.nan])}
    prep = Preprocessor.fit(values, columns)
    model = prep.onnx_graph()
    assert [o.name for o in model.graph.output] == ["features"]
    assert prep.unknown_counts(values) == {}
    assert prep.verify(values) == 0.0


@pytest.mark.parametrize("encoding", ["onehot", "ordinal"])
def test_a_single_categorical_column(encoding: str) -> None:
    values = {"plan": np.array(["a", "b", "b", None, "c"], dtype=object)}
    options = PrepOptions(encoding=encoding)  # type: ignore[arg-type]
    prep = Preprocessor.fit(values, [Column("plan", "categorical")], options)
    rows = {"plan": np.array(["b", "", "z", None], dtype=object)}
    assert prep.verify(rows) == 0.0
    assert prep.unknown_counts(rows) == {"plan": 1}
    # categories: <missing>, a, b, c; "z" was never seen
    onehot = [[0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0]]
    assert prep.transform(rows).tolist() == (onehot if encoding == "onehot" else [[2], [0], [4], [0]])


def test_zero_rows_transform_to_zero_rows(prep: Preprocessor) -> None:
    empty = {name: values[:0] for name, values in held_out(10, 1).items()}
    assert prep.transform(empty).shape == (0, prep.width)
    assert prep.verify(empty) == 0.0
    assert prep.unknown_counts(empty) == {"plan": 0, "region": 0}


def test_the_graph_is_lean(prep: Preprocessor) -> None:
    """One imputer per block, no per-column arithmetic, no reordering Gather at the end."""
    ops = [n.op_type for n in prep.onnx_graph().graph.node]
    assert ops.count("Imputer") == 1 and ops.count("Where") == 1 and ops.count("LabelEncoder") == 1
    assert "Gather" not in ops and ops[-1] == "Concat"
    assert len(ops) <= 28


def _ts(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


DATES = [
    _ts(1970, 1, 1),
    _ts(1969, 12, 31, 23, 59, 59),
    _ts(2000, 2, 29, 13, 45),
    _ts(2000, 3, 1, 0, 0, 1),
    _ts(1900, 2, 28, 23),
    _ts(1900, 3, 1, 1),
    _ts(1600, 2, 29, 12),
    _ts(1582, 10, 15, 6),
    _ts(2024, 12, 31, 23, 30),
    _ts(2100, 3, 1, 5),
    _ts(9999, 12, 31, 22),
    _ts(1, 1, 1, 3),
]


def test_datetime_parts_equal_python_datetime() -> None:
    seconds = np.array(DATES + [d + 0.75 for d in DATES])
    prep = Preprocessor.fit({"when": seconds}, [Column("when", "datetime")])
    reference = float(seconds.min())
    for features in (prep.transform({"when": seconds}), datetime_parts(seconds[:, None], [reference])):
        for row, value in zip(features, seconds, strict=True):
            moment = datetime.fromtimestamp(np.floor(value), tz=timezone.utc)
            assert row[:4].tolist() == [moment.year, moment.month, moment.weekday(), moment.hour], moment
            assert np.float32(row[4]) == np.float32((value - reference) / 86400)


def test_calendar_arithmetic_matches_numpy_over_eight_millennia() -> None:
    rng = np.random.default_rng(0)
    days = np.concatenate([np.arange(-800_000, 800_000, 997), rng.integers(-1_500_000, 1_500_000, 3000)])
    seconds = days * 86400.0 + rng.integers(0, 86400, len(days))
    seconds = np.stack([seconds, seconds[::-1]], axis=1)  # two datetime columns at once
    columns = [Column("a", "datetime"), Column("b", "datetime")]
    prep = Preprocessor.fit({"a": seconds[:, 0], "b": seconds[:, 1]}, columns)
    assert prep.verify({"a": seconds[:, 0], "b": seconds[:, 1]}) == 0.0
    assert prep.feature_names[:5] == ["a.year", "a.month", "a.day_of_week", "a.hour", "b.year"]

"""Compacting a graph: smaller, the same outputs bit for bit, and the serving contract's names kept."""

from __future__ import annotations

import copy

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits

from modelplane.compression.compact import compact_graph
from modelplane.runtimes.base import INPUT_NAME, OUTPUT_NAMES
from modelplane.runtimes.onnx_runtime import OnnxRuntime
from tests.compression.conftest import Zoo

DIGITS = load_digits().data.astype(np.float32)[:100]


def test_compacting_keeps_outputs_and_contract_names(zoo: Zoo) -> None:
    version = zoo.local.models.version(zoo.mlp)
    parent = onnx.load(str(zoo.local.store.artifacts.verified_path(version.onnx_sha)))
    parent.graph.node[0].doc_string = "made on this machine"
    parent.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))  # as the quantiser adds
    compact = copy.deepcopy(parent)
    compact_graph(compact)

    onnx.checker.check_model(compact, full_check=True)
    graph = compact.graph
    assert [i.name for i in graph.input] == [INPUT_NAME]
    assert [o.name for o in graph.output] == OUTPUT_NAMES["classification"]
    contract = {INPUT_NAME, *OUTPUT_NAMES["classification"]}
    names = ({t.name for t in graph.initializer} | {n for node in graph.node for n in node.output}) - contract
    assert names and all(len(n) <= 2 and n.isidentifier() for n in names)
    assert not graph.value_info and all(not n.name and not n.doc_string for n in graph.node)
    assert [o.domain for o in compact.opset_import] == [""]
    assert parent.ByteSize() - compact.ByteSize() > 1500  # 13.6 KB -> 11.8 KB here

    before = OnnxRuntime(parent.SerializeToString(), threads=1).predict(DIGITS)
    after = OnnxRuntime(compact.SerializeToString(), threads=1).predict(DIGITS)
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_names_inside_control_flow_stay_apart_from_the_short_ones() -> None:
    """An If branch reads an outer constant and has a local 'a': neither may clash with new names."""
    offset = numpy_helper.from_array(np.full(4, 2.0, np.float32), "outer_offset")
    branch = helper.make_graph(
        [helper.make_node("Add", ["input", "outer_offset"], ["a"]), helper.make_node("Neg", ["a"], ["out"])],
        "then",
        [],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 4])],
    )
    otherwise = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["same"])],
        "else",
        [],
        [helper.make_tensor_value_info("same", TensorProto.FLOAT, ["batch", 4])],
    )
    graph = helper.make_graph(
        [
            helper.make_node("ReduceSum", ["input"], ["total"], keepdims=0),
            helper.make_node("Greater", ["total", "zero"], ["positive"]),
            helper.make_node("If", ["positive"], ["prediction"], then_branch=branch, else_branch=otherwise),
        ],
        "control",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("prediction", TensorProto.FLOAT, ["batch", 4])],
        [offset, numpy_helper.from_array(np.array(0.0, np.float32), "zero")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)], ir_version=10)
    compact = copy.deepcopy(model)
    compact_graph(compact)
    assert {t.name for t in compact.graph.initializer} == {"outer_offset", "b"}  # 'a' is the branch's
    rows = np.ones((3, 4), np.float32)
    before = OnnxRuntime(model.SerializeToString(), threads=1).predict(rows)
    after = OnnxRuntime(compact.SerializeToString(), threads=1).predict(rows)
    assert np.array_equal(before["prediction"], after["prediction"]) and after["prediction"][0, 0] == -3.0

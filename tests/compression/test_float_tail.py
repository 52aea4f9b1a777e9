import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from modelplane.compression.float_tail import keep_last_layer_float


def _last_layer_with_qdq_pair() -> onnx.ModelProto:
    """input -> Gemm -> QuantizeLinear -> DequantizeLinear -> Softmax, as the static quantiser leaves it."""
    rng = np.random.default_rng(0)
    initializers = [
        numpy_helper.from_array(rng.standard_normal((4, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(np.zeros(3, np.float32), "b"),
        numpy_helper.from_array(np.array(0.05, np.float32), "out_scale"),
        numpy_helper.from_array(np.array(0, np.uint8), "out_zero_point"),
    ]
    nodes = [
        helper.make_node("Gemm", ["input", "w", "b"], ["logits"]),
        helper.make_node("QuantizeLinear", ["logits", "out_scale", "out_zero_point"], ["logits_q"]),
        helper.make_node("DequantizeLinear", ["logits_q", "out_scale", "out_zero_point"], ["logits_dq"]),
        helper.make_node("Softmax", ["logits_dq"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tail",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 3])],
        initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_the_pair_and_its_constants_are_removed_and_the_scores_are_unrounded() -> None:
    model = _last_layer_with_qdq_pair()
    assert keep_last_layer_float(model) == 1
    assert [n.op_type for n in model.graph.node] == ["Gemm", "Softmax"]
    # Nothing left for ONNX Runtime to warn about: the pair's scale and zero point went with it.
    assert {t.name for t in model.graph.initializer} == {"w", "b"}
    onnx.checker.check_model(model)
    x = np.random.default_rng(1).standard_normal((2, 4)).astype(np.float32)
    got = ort.InferenceSession(model.SerializeToString()).run(None, {"input": x})[0]
    w = numpy_helper.to_array(model.graph.initializer[0])
    logits = x @ w
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_a_pair_read_by_a_layer_stays() -> None:
    model = _last_layer_with_qdq_pair()
    model.graph.node[3].op_type = "Relu"  # an op that may compute on the int8 values: not a float reader
    del model.graph.node[3].attribute[:]
    assert keep_last_layer_float(model) == 0
    assert len(model.graph.initializer) == 4

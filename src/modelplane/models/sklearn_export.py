"""scikit-learn pipelines as ONNX graphs that speak the runtime contract (skl2onnx, then rewired).

A pipeline ending in a forest or decision tree converts its earlier steps with skl2onnx and the trees with
models/forest_onnx.py, which builds the tree node with numpy instead of skl2onnx's per-node Python loop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx
from onnx import TensorProto, helper

from modelplane.errors import Invalid
from modelplane.models.forest_onnx import ML_DOMAIN, ML_OPSET, add_tree_ensemble, is_tree_ensemble
from modelplane.models.onnx_checks import BATCH_DIM, check_onnx, first_line
from modelplane.runtimes.base import INPUT_NAME
from modelplane.runtimes.sklearn_runtime import check_sklearn_pipeline

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator
    from sklearn.pipeline import Pipeline

_FLAT_INPUT = "input_flat"
_CONVERTER_LABEL = "sklearn_label"
_TREES_OUTPUT = "trees_output"


def export_sklearn_onnx(pipeline: Pipeline, *, task: str, input_shape: Sequence[int], path: Path) -> Path:
    """Convert (skl2onnx, or forest_onnx for a final forest or tree), then rewire the graph to the contract.

    The graph flattens ``(N, *input_shape)`` itself and computes ``label`` as ArgMax of
    ``probabilities`` (the class index, as SklearnRuntime does) instead of the converter's label,
    which holds the class *values* from ``classes_``.
    """
    from sklearn.pipeline import Pipeline

    check_sklearn_pipeline(pipeline, task)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    width = math.prod(input_shape)
    final = pipeline[-1] if isinstance(pipeline, Pipeline) else pipeline
    if is_tree_ensemble(final):
        model = _with_trees(pipeline, final, width)
    else:
        model = _skl2onnx(pipeline, width, classifier=final if task == "classification" else None)
    # Output widths come from the fitted model: skl2onnx declares (N, 1) even for multi-output regressors.
    if task == "classification":
        n_outputs = len(pipeline.classes_)
    else:
        n_outputs = np.asarray(pipeline.predict(np.zeros((1, width), np.float32))).reshape(1, -1).shape[1]
    _to_contract(model.graph, task, input_shape, n_outputs)
    onnx.save(model, str(path))
    check_onnx(path, task)
    return path


def _skl2onnx(
    pipeline: Pipeline | BaseEstimator, width: int, *, classifier: object | None
) -> onnx.ModelProto:
    """skl2onnx's graph reading ``_FLAT_INPUT`` (N, width); ``classifier`` gives probabilities, no ZipMap."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MaxAbsScaler, RobustScaler, StandardScaler

    # Sub then Div in float32, as sklearn computes: the default Scaler op multiplies by 1/scale, and that
    # last-bit difference sends samples lying exactly on a tree threshold down the other branch.
    options: dict[object, dict[str, object]] = {
        s: {"div": "div"} for s in (StandardScaler, RobustScaler, MaxAbsScaler)
    }
    if classifier is not None:
        options[id(classifier)] = {"zipmap": False}
    try:
        return convert_sklearn(
            pipeline,
            initial_types=[(_FLAT_INPUT, FloatTensorType([None, width]))],
            options=options,
        )
    # MissingShapeCalculator/MissingConverter are RuntimeErrors; converter bugs on newer sklearn/onnx
    # (e.g. HistGradientBoosting with skl2onnx 1.20 + onnx 1.23) surface as ValueError/TypeError.
    except (RuntimeError, ValueError, TypeError, NotImplementedError) as e:
        steps = " -> ".join(type(s).__name__ for s in pipeline) if isinstance(pipeline, Pipeline) else ""
        reason = first_line(e.__cause__ or e)  # skl2onnx wraps onnx's own error, which says more
        raise Invalid(
            f"{steps or type(pipeline).__name__} cannot be exported to ONNX by skl2onnx ({reason}); "
            "it will be served by the native sklearn runtime"
        ) from e


def _with_trees(pipeline: Pipeline | BaseEstimator, trees: BaseEstimator, width: int) -> onnx.ModelProto:
    """The steps before ``trees`` by skl2onnx (none: the trees read the input), then the tree node.

    The graph's one output is the tree node's: probabilities (N, classes) or predictions (N, outputs).
    """
    from sklearn.pipeline import Pipeline

    if isinstance(pipeline, Pipeline) and len(pipeline) > 1:
        model = _skl2onnx(pipeline[:-1], width, classifier=None)
        (features,) = (o.name for o in model.graph.output)
    else:
        model, features = _input_only(width), _FLAT_INPUT
    n_targets = add_tree_ensemble(model.graph, trees, features, _TREES_OUTPUT)
    del model.graph.output[:]
    model.graph.output.append(
        helper.make_tensor_value_info(_TREES_OUTPUT, TensorProto.FLOAT, [None, n_targets])
    )
    opsets = {entry.domain: entry.version for entry in model.opset_import}  # skl2onnx may list one twice
    opsets[ML_DOMAIN] = max(opsets.get(ML_DOMAIN, ML_OPSET), ML_OPSET)
    del model.opset_import[:]
    model.opset_import.extend(helper.make_opsetid(domain, version) for domain, version in opsets.items())
    return model


def _input_only(width: int) -> onnx.ModelProto:
    """A graph with just the flat input, at the opset skl2onnx gives a bare forest (its newest tested one)."""
    from skl2onnx import get_latest_tested_opset_version

    opset = min(get_latest_tested_opset_version(), onnx.defs.onnx_opset_version())
    graph = helper.make_graph(
        [], "trees", [helper.make_tensor_value_info(_FLAT_INPUT, TensorProto.FLOAT, [None, width])], []
    )
    opsets = [helper.make_opsetid("", opset)]
    return helper.make_model(
        graph,
        opset_imports=opsets,
        ir_version=helper.find_min_ir_version_for(opsets),
        producer_name="modelplane",
    )


def _to_contract(graph: onnx.GraphProto, task: str, input_shape: Sequence[int], n_outputs: int) -> None:
    """Rename/replace the converter's inputs and outputs with the contract's, in place.

    A classifier's graph ends in (label, probabilities) from skl2onnx or (probabilities,) from the trees.
    """
    graph.node.insert(0, helper.make_node("Flatten", [INPUT_NAME], [_FLAT_INPUT], axis=1))
    del graph.input[:]
    graph.input.append(
        helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [BATCH_DIM, *input_shape])
    )
    if task == "classification":
        *label, probabilities = (o.name for o in graph.output)
        for name in label:
            _rename(graph, name, _CONVERTER_LABEL)
        _rename(graph, probabilities, "probabilities")
        graph.node.append(helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0))
        del graph.output[:]
        graph.output.extend(
            [
                helper.make_tensor_value_info("label", TensorProto.INT64, [BATCH_DIM]),
                helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [BATCH_DIM, n_outputs]),
            ]
        )
    else:
        _rename(graph, graph.output[0].name, "prediction")
        del graph.output[:]
        graph.output.append(
            helper.make_tensor_value_info("prediction", TensorProto.FLOAT, [BATCH_DIM, n_outputs])
        )


def _rename(graph: onnx.GraphProto, old: str, new: str) -> None:
    """Rename a tensor in every node; the caller rebuilds graph.output."""
    for node in graph.node:
        node.input[:] = [new if n == old else n for n in node.input]
        node.output[:] = [new if n == old else n for n in node.output]

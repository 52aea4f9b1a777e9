"""The served graph: the preprocessing graph feeding a model's ONNX graph, as one checked ONNX model."""

from __future__ import annotations

import onnx
from onnx import TensorProto, compose

from modelplane.errors import Invalid
from modelplane.runtimes.base import INPUT_NAME
from modelplane.tables.prep_onnx import FEATURES, MIN_ML_OPSET, UNKNOWN, Layout, build
from modelplane.tables.prep_params import PrepParams

ML_DOMAIN = "ai.onnx.ml"
# The model's own names go under this prefix (its outputs keep theirs), so they never meet the
# preprocessing's: column names are inputs of the "columns" layout and may be anything.
_MODEL_PREFIX = "model/"


def merge(params: PrepParams, model: onnx.ModelProto, *, layout: Layout) -> onnx.ModelProto:
    """Inputs of `layout` -> preprocessing -> `model` -> the model's outputs, then ``unknown`` (when there are
    categorical columns). The preprocessing is built at the model's opset and IR version; an ``ai.onnx.ml``
    import is added, or raised to the version of LabelEncoder with float values (2), when needed."""
    width = len(params.feature_names())
    _check_model_input(model, width)
    opsets = _opsets(model)
    ml_opset = max(opsets.get(ML_DOMAIN, 0), MIN_ML_OPSET)
    prep = build(params, layout=layout, opset=opsets.get("", 0), ml_opset=ml_opset)
    opsets.update((entry.domain, entry.version) for entry in prep.opset_import)
    ir_version = max(model.ir_version, prep.ir_version)
    prep.ir_version = ir_version
    served = onnx.ModelProto()
    served.CopyFrom(model)
    served.ir_version = ir_version
    _set_opsets(served, opsets)
    served.graph.CopyFrom(compose.add_prefix_graph(model.graph, _MODEL_PREFIX, rename_outputs=False))
    model_outputs = [o.name for o in model.graph.output]
    taken = sorted(({i.name for i in prep.graph.input} | {UNKNOWN}) & set(model_outputs))
    if taken:
        raise Invalid(
            f"the model has outputs named {taken}, which the preprocessing graph uses as input or output "
            "names; rename those columns (or export the model with other output names)"
        )
    try:
        merged = compose.merge_models(prep, served, io_map=[(FEATURES, _MODEL_PREFIX + INPUT_NAME)])
    except (ValueError, onnx.checker.ValidationError) as e:
        raise Invalid(f"the preprocessing graph cannot be joined to the model ({e}); report this") from e
    # merge_models lists the first graph's remaining outputs (unknown) first: the model's outputs lead.
    outputs = sorted(merged.graph.output, key=lambda o: o.name == UNKNOWN)
    del merged.graph.output[:]
    merged.graph.output.extend(outputs)
    _set_opsets(merged, opsets)
    onnx.checker.check_model(merged, full_check=True)
    return merged


def _check_model_input(model: onnx.ModelProto, width: int) -> None:
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if [i.name for i in inputs] != [INPUT_NAME]:
        raise Invalid(
            f"the model graph takes inputs {[i.name for i in inputs]}, not one {INPUT_NAME!r}; export it "
            "with modelplane's exporters (models/torch_export.py, models/sklearn_export.py)"
        )
    tensor = inputs[0].type.tensor_type
    dims = tensor.shape.dim
    if tensor.elem_type != TensorProto.FLOAT or len(dims) != 2:
        raise Invalid(
            f"the model's {INPUT_NAME!r} must be float32 [N, {width}]; export it for tabular features"
        )
    if dims[1].HasField("dim_value") and dims[1].dim_value != width:
        raise Invalid(
            f"the model takes {dims[1].dim_value} features but the preprocessing makes {width}; "
            "train the model on this pipeline's features"
        )


def _opsets(model: onnx.ModelProto) -> dict[str, int]:
    """One version per domain (exporters may list a domain twice with the same version)."""
    found: dict[str, int] = {}
    for entry in model.opset_import:
        if found.setdefault(entry.domain, entry.version) != entry.version:
            raise Invalid(f"the model imports domain {entry.domain!r} at two versions; export it again")
    return found


def _set_opsets(model: onnx.ModelProto, opsets: dict[str, int]) -> None:
    del model.opset_import[:]
    model.opset_import.extend(onnx.helper.make_opsetid(domain, version) for domain, version in opsets.items())

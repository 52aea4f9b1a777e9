"""The served graph: the preprocessing graph feeding a model's ONNX graph, as one checked ONNX model."""

from __future__ import annotations

import onnx
from onnx import TensorProto

from modelplane.errors import Invalid
from modelplane.runtimes.base import INPUT_NAME
from modelplane.tables.prep_onnx import FEATURES, MIN_ML_OPSET, UNKNOWN, Layout, build
from modelplane.tables.prep_params import PrepParams

ML_DOMAIN = "ai.onnx.ml"
# The model's own names go under this prefix (its outputs keep theirs), so they never meet the
# preprocessing's: column names are inputs of the "columns" layout and may be anything.
_MODEL_PREFIX = "model/"


def merge(
    params: PrepParams, model: onnx.ModelProto, *, layout: Layout, in_place: bool = False
) -> onnx.ModelProto:
    """Inputs of `layout` -> preprocessing -> `model` -> the model's outputs, then ``unknown`` (when there are
    categorical columns). The preprocessing is built at the model's opset and IR version; an ``ai.onnx.ml``
    import is added, or raised to the version of LabelEncoder with float values (2), when needed.

    The two graphs are joined by renaming in one copy of the model (`in_place`: in `model` itself, for a
    graph loaded just for this): a forest's graph holds tens of MB of attributes, and onnx.compose copies
    the whole model three times (3.6 s for a 77 MB random forest, against 0.3 s)."""
    width = len(params.feature_names())
    _check_model_input(model, width)
    opsets = _opsets(model)
    ml_opset = max(opsets.get(ML_DOMAIN, 0), MIN_ML_OPSET)
    prep = build(params, layout=layout, opset=opsets.get("", 0), ml_opset=ml_opset)
    opsets.update((entry.domain, entry.version) for entry in prep.opset_import)
    model_outputs = [o.name for o in model.graph.output]
    taken = sorted(({i.name for i in prep.graph.input} | {UNKNOWN}) & set(model_outputs))
    if taken:
        raise Invalid(
            f"the model has outputs named {taken}, which the preprocessing graph uses as input or output "
            "names; rename those columns (or export the model with other output names)"
        )
    served = model
    if not in_place:
        served = onnx.ModelProto()
        served.CopyFrom(model)
    served.ir_version = max(model.ir_version, prep.ir_version)
    _set_opsets(served, opsets)
    graph = served.graph
    _prefix_names(graph, keep=set(model_outputs))
    # The preprocessing's features output becomes the model's (renamed) input.
    rename = {FEATURES: _MODEL_PREFIX + INPUT_NAME}
    for node in prep.graph.node:
        node.input[:] = [rename.get(name, name) for name in node.input]
        node.output[:] = [rename.get(name, name) for name in node.output]
    initializers = {i.name for i in graph.initializer}
    kept_inputs = [i for i in graph.input if i.name in initializers]  # old IR: initializers listed as inputs
    del graph.input[:]
    graph.input.extend([*prep.graph.input, *kept_inputs])
    for position, node in enumerate(prep.graph.node):  # inserted ahead: moving the model's nodes copies them
        graph.node.insert(position, node)
    graph.initializer.extend(prep.graph.initializer)
    graph.output.extend(o for o in prep.graph.output if o.name != FEATURES)
    if sum(i.ByteSize() for i in model.graph.initializer) + _attribute_bytes(model) < _CHECKED_BYTES:
        try:
            onnx.checker.check_model(served, full_check=True)
        except onnx.checker.ValidationError as e:
            raise Invalid(f"the preprocessing graph cannot be joined to the model ({e}); report this") from e
    return served


# Larger graphs (forests) are checked by ONNX Runtime when it loads them; the checker's full pass costs ~1 s
# per 80 MB, on every load.
_CHECKED_BYTES = 16 << 20


def _attribute_bytes(model: onnx.ModelProto) -> int:
    """Bytes of the node attributes that hold data (a tree ensemble's), without sizing the whole model."""
    return sum(len(a.floats) * 4 + len(a.ints) * 8 for node in model.graph.node for a in node.attribute)


def _prefix_names(graph: onnx.GraphProto, *, keep: set[str]) -> None:
    """Prefix every value, node and initializer name of the model's graph, in place, except its outputs."""

    def renamed(name: str) -> str:
        return name if not name or name in keep else _MODEL_PREFIX + name

    for node in graph.node:
        node.name = _MODEL_PREFIX + node.name if node.name else node.name
        node.input[:] = [renamed(name) for name in node.input]
        node.output[:] = [renamed(name) for name in node.output]
    for initializer in graph.initializer:
        initializer.name = renamed(initializer.name)
    for value in [*graph.input, *graph.value_info]:
        value.name = renamed(value.name)


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

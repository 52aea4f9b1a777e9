"""An outside ONNX graph rewired to the runtime contract (runtimes/base.py), so it serves like a trained one.

A graph from elsewhere names its tensors as its exporter chose (`float_input`, `output_probability`,
`logits`), may take float64 or int inputs, and may give logits, a ZipMap of probabilities or one value
per row. Serving, batch prediction and export read only the contract, so the import adds a small head
and tail of standard ops around the user's nodes instead of teaching every reader about foreign graphs:
`input` (float32, cast to the graph's own type) in; `label` + `probabilities` (ArgMax of a softmax where
the graph gave scores) or `prediction` (N, k) out. The user's nodes and weights are untouched.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper

from modelplane.errors import Invalid
from modelplane.models.onnx_checks import BATCH_DIM, first_line
from modelplane.runtimes.base import INPUT_NAME, OUTPUT_NAMES

# Element types an input may have: the float32 the contract feeds is cast to it.
_NUMERIC = {
    TensorProto.FLOAT,
    TensorProto.DOUBLE,
    TensorProto.FLOAT16,
    TensorProto.INT8,
    TensorProto.INT16,
    TensorProto.INT32,
    TensorProto.INT64,
    TensorProto.UINT8,
}
_FLOATS = {TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16}
_INTS = {TensorProto.INT32, TensorProto.INT64}
# Ops whose output already holds probabilities (ai.onnx.ml classifiers say so with their post_transform).
_PROBABILITY_OPS = {"Softmax", "Sigmoid"}
_ML_DOMAIN = "ai.onnx.ml"
# add_head's only output: the user's scores as float32 (N, k), what the import runs the graph for.
SCORES_OUTPUT = "modelplane_scores_2d"
_SCORES = "modelplane_scores"
_OURS = (SCORES_OUTPUT, _SCORES, "modelplane_p", "modelplane_q", "modelplane_one")


@dataclass(frozen=True)
class Tensor:
    """One input or output as the graph declares it (dims: an int, a symbol, or None where unknown)."""

    name: str
    dtype: str
    shape: list[int | str | None] | None  # None: rank unknown

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "dtype": self.dtype, "shape": self.shape}


@dataclass
class Plan:
    """How the graph's outputs become the contract's: which output, softmax or not, how many columns."""

    task: str
    source: str  # the tensor that becomes probabilities / prediction
    softmax: bool = False
    binary: bool = False  # one score column: probabilities are [1 - p, p]
    classes: list[str] | None = None  # labels the graph itself carries (ZipMap / classifier attributes)
    notes: list[str] = field(default_factory=list)


def _dtype(elem: int) -> str:
    return str(helper.tensor_dtype_to_np_dtype(elem)) if elem else "unknown"


def _tensor(value: onnx.ValueInfoProto) -> Tensor:
    kind = value.type.WhichOneof("value")
    if kind != "tensor_type":
        return Tensor(value.name, kind or "unknown", None)
    t = value.type.tensor_type
    if not t.HasField("shape"):
        return Tensor(value.name, _dtype(t.elem_type), None)
    dims: list[int | str | None] = [
        d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim
    ]
    return Tensor(value.name, _dtype(t.elem_type), dims)


def signature(model: onnx.ModelProto) -> tuple[list[Tensor], list[Tensor]]:
    """The graph's real inputs (initializers excluded) and outputs, as declared."""
    weights = {i.name for i in model.graph.initializer}
    inputs = [_tensor(v) for v in model.graph.input if v.name not in weights]
    return inputs, [_tensor(v) for v in model.graph.output]


def check_opset(model: onnx.ModelProto) -> None:
    """Refuse a graph stamped with an opset newer than the ONNX this server runs knows."""
    newest = onnx.defs.onnx_opset_version()
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx") and entry.version > newest:
            raise Invalid(
                f"the graph uses ONNX opset {entry.version}, newer than the {newest} this server's ONNX "
                f"Runtime supports; export it again with opset_version={newest} or lower"
            )
        if entry.domain in ("", "ai.onnx") and entry.version < 7:
            raise Invalid(
                f"the graph uses ONNX opset {entry.version}, older than 7, which ONNX Runtime no longer "
                "runs; convert it with onnx.version_converter or export it again"
            )


def input_shape(model: onnx.ModelProto) -> tuple[onnx.ValueInfoProto, list[int]]:
    """The one input and its per-row shape; refused where it is not one numeric tensor of known rank with
    a free batch axis and fixed other axes."""
    weights = {i.name for i in model.graph.initializer}
    inputs = [v for v in model.graph.input if v.name not in weights]
    if len(inputs) != 1:
        names = ", ".join(v.name for v in inputs) or "none"
        raise Invalid(
            f"the graph takes {len(inputs)} inputs ({names}); modelplane serves models with one input "
            "tensor (N, ...): export the model with its features in one tensor"
        )
    value = inputs[0]
    tensor = _tensor(value)
    elem = value.type.tensor_type.elem_type if value.type.HasField("tensor_type") else 0
    if elem not in _NUMERIC:
        raise Invalid(
            f"input {tensor.name!r} is {tensor.dtype}; modelplane feeds numeric tensors "
            "(float32, float64, float16 or integers): export the model with a numeric input"
        )
    if tensor.shape is None:
        raise Invalid(
            f"input {tensor.name!r} has unknown rank; export the graph with its input shape declared "
            "(e.g. [batch, 4]) so modelplane knows what one row is"
        )
    if not tensor.shape:
        raise Invalid(f"input {tensor.name!r} is a scalar; modelplane needs a batch axis (N, ...)")
    batch, rest = tensor.shape[0], tensor.shape[1:]
    if isinstance(batch, int) and batch != 0:
        raise Invalid(
            f"input {tensor.name!r} fixes the batch size to {batch}; export it with a dynamic batch axis "
            f"(torch.onnx.export(..., dynamic_axes={{'{tensor.name}': {{0: 'batch'}}}}))"
        )
    unknown = [i + 1 for i, d in enumerate(rest) if not isinstance(d, int) or d <= 0]
    if unknown:
        raise Invalid(
            f"input {tensor.name!r} has shape {tensor.shape}: axis {unknown[0]} is not a fixed size; "
            "modelplane needs every axis but the batch fixed, export it with a fixed row shape"
        )
    return value, [int(d) for d in rest if isinstance(d, int)]


def _producers(graph: onnx.GraphProto) -> dict[str, onnx.NodeProto]:
    return {out: node for node in graph.node for out in node.output}


def _labels_of(node: onnx.NodeProto) -> list[str] | None:
    for attribute in node.attribute:
        if attribute.name == "classlabels_strings" and attribute.strings:
            return [s.decode() for s in attribute.strings]
        if attribute.name == "classlabels_int64s" and attribute.ints:
            labels = [str(i) for i in attribute.ints]
            # 0..C-1 are positions, not names: the classes come from --classes or the data instead.
            return None if labels == [str(i) for i in range(len(labels))] else labels
    return None


def plan_outputs(model: onnx.ModelProto, task: str | None, has_classes: bool) -> Plan:
    """Choose the output that carries the answer, and what the task is when the user did not say.

    A ZipMap (skl2onnx's dict-per-row probabilities) is read at its input, a float tensor. The graph is a
    classifier where it says so (a ZipMap, an ai.onnx.ml classifier, an integer label output) or the user
    gave classes; otherwise a regressor."""
    graph = model.graph
    made_by = _producers(graph)
    labels: list[str] | None = None
    scores: list[tuple[str, onnx.NodeProto | None]] = []
    says_classifier = False
    for out in graph.output:
        node = made_by.get(out.name)
        if node is not None and node.op_type == "ZipMap":
            says_classifier = True
            labels = _labels_of(node) or labels
            scores.append((node.input[0], made_by.get(node.input[0])))
            continue
        kind = out.type.WhichOneof("value")
        if kind != "tensor_type":
            continue
        elem = out.type.tensor_type.elem_type
        if elem in _INTS or elem == TensorProto.STRING:
            says_classifier = True
        elif elem in _FLOATS:
            scores.append((out.name, node))
    for node in graph.node:
        if node.domain == _ML_DOMAIN and node.op_type.endswith("Classifier"):
            says_classifier = True
            labels = _labels_of(node) or labels
    chosen = task or ("classification" if says_classifier or has_classes else "regression")
    if chosen not in OUTPUT_NAMES:
        raise Invalid(f"unknown task {chosen!r}; use classification or regression")
    if not scores:
        names = ", ".join(f"{t.name} ({t.dtype})" for t in signature(model)[1])
        what = "class probabilities or scores" if chosen == "classification" else "predicted values"
        raise Invalid(
            f"none of the graph's outputs ({names}) is a float tensor of {what}; export it with one "
            "(for skl2onnx classifiers, options={'zipmap': False} also works)"
        )
    source, producer = scores[0]
    plan = Plan(chosen, source, classes=labels)
    if len(scores) > 1:
        plan.notes.append(f"the graph has {len(scores)} float outputs; {source!r} is served")
    if chosen == "classification":
        plan.softmax = not _gives_probabilities(producer)
    return plan


def _gives_probabilities(node: onnx.NodeProto | None) -> bool:
    if node is None:
        return False
    # An ai.onnx.ml classifier's float output is its probabilities (its post_transform applied).
    return node.op_type in _PROBABILITY_OPS or (
        node.domain == _ML_DOMAIN and node.op_type.endswith("Classifier")
    )


def look_like_probabilities(scores: np.ndarray) -> bool:
    """Rows in [0, 1] that sum to 1: what a graph ending in its own softmax (or a forest) gives."""
    values = np.asarray(scores, dtype=np.float64).reshape(len(scores), -1)
    if values.shape[1] == 1:
        return bool(np.all((values >= 0) & (values <= 1)))
    return bool(np.all((values >= -1e-6) & (values <= 1 + 1e-6)) and np.allclose(values.sum(1), 1, atol=1e-4))


def _all_names(graph: onnx.GraphProto) -> Iterator[str]:
    for value in (*graph.input, *graph.output, *graph.value_info):
        yield value.name
    for init in graph.initializer:
        yield init.name
    for node in graph.node:
        yield from node.input
        yield from node.output


def _rename(graph: onnx.GraphProto, old: str, new: str) -> None:
    """Rename a tensor everywhere in the graph and its subgraphs (If/Loop bodies read outer names)."""
    for value in (*graph.input, *graph.output, *graph.value_info, *graph.initializer):
        if value.name == old:
            value.name = new
    for node in graph.node:
        node.input[:] = [new if n == old else n for n in node.input]
        node.output[:] = [new if n == old else n for n in node.output]
        for attribute in node.attribute:
            for sub in (*([attribute.g] if attribute.HasField("g") else []), *attribute.graphs):
                _rename(sub, old, new)


def _free_contract_names(graph: onnx.GraphProto) -> dict[str, str]:
    """Move the user's tensors off the names the contract's tensors take; old name -> new."""
    taken = set(_all_names(graph))
    moved: dict[str, str] = {}
    for name in (INPUT_NAME, *sorted({n for names in OUTPUT_NAMES.values() for n in names}), *_OURS):
        if name in taken:
            fresh = name
            while fresh in taken:
                fresh = f"{fresh}_user"
            _rename(graph, name, fresh)
            taken.add(fresh)
            moved[name] = fresh
    return moved


def _ensure_default_opset(model: onnx.ModelProto) -> None:
    if not any(e.domain in ("", "ai.onnx") for e in model.opset_import):
        model.opset_import.append(helper.make_opsetid("", 13))


def add_head(model: onnx.ModelProto, plan: Plan) -> None:
    """Give `model` the contract's input and, as its only output, the user's scores as float32 (N, k):
    the probe run at import reads them to finish the tail (`add_tail`). Works in place."""
    graph = model.graph
    moved = _free_contract_names(graph)
    value, _ = input_shape(model)
    source = moved.get(plan.source, plan.source)
    elem = value.type.tensor_type.elem_type
    dims = [BATCH_DIM, *[d.dim_value for d in value.type.tensor_type.shape.dim][1:]]
    head = helper.make_node("Cast", [INPUT_NAME], [value.name], to=elem, name="modelplane_input")
    cast = helper.make_node("Cast", [source], [_SCORES], to=TensorProto.FLOAT, name="modelplane_cast")
    flat = helper.make_node("Flatten", [_SCORES], [SCORES_OUTPUT], axis=1, name="modelplane_flatten")
    graph.input.remove(value)
    graph.input.insert(0, helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, dims))
    graph.node.insert(0, head)
    graph.node.extend([cast, flat])
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(SCORES_OUTPUT, TensorProto.FLOAT, [BATCH_DIM, None]))
    _prune_dead(graph)
    _ensure_default_opset(model)


def add_tail(model: onnx.ModelProto, plan: Plan) -> None:
    """Turn the probe's scores output into the contract's outputs, as the plan (finished on the probe's
    values: softmax or not, one column or several) says."""
    graph = model.graph
    scores = SCORES_OUTPUT
    tail: list[onnx.NodeProto] = []
    if plan.task == "classification":
        if plan.binary:
            p = "modelplane_p"
            op = "Sigmoid" if plan.softmax else "Identity"
            tail.append(helper.make_node(op, [scores], [p], name="modelplane_p"))
            one = "modelplane_one"
            graph.initializer.append(helper.make_tensor(one, TensorProto.FLOAT, [], [1.0]))
            tail.append(helper.make_node("Sub", [one, p], ["modelplane_q"], name="modelplane_q"))
            tail.append(
                helper.make_node(
                    "Concat", ["modelplane_q", p], ["probabilities"], axis=1, name="modelplane_pq"
                )
            )
        else:
            if plan.softmax:
                probs = helper.make_node(
                    "Softmax", [scores], ["probabilities"], axis=1, name="modelplane_probs"
                )
            else:
                probs = helper.make_node("Identity", [scores], ["probabilities"], name="modelplane_probs")
            tail.append(probs)
        tail.append(
            helper.make_node(
                "ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0, name="modelplane_label"
            )
        )
        outputs = [
            helper.make_tensor_value_info("label", TensorProto.INT64, [BATCH_DIM]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [BATCH_DIM, None]),
        ]
    else:
        tail.append(helper.make_node("Identity", [scores], ["prediction"], name="modelplane_prediction"))
        outputs = [helper.make_tensor_value_info("prediction", TensorProto.FLOAT, [BATCH_DIM, None])]
    graph.node.extend(tail)
    del graph.output[:]
    graph.output.extend(outputs)


def _prune_dead(graph: onnx.GraphProto) -> None:
    """Drop nodes none of whose outputs is read (the ZipMap and label nodes the tail replaced)."""
    while True:
        needed = {o.name for o in graph.output}
        for node in graph.node:
            needed.update(node.input)
            for attribute in node.attribute:
                for sub in (*([attribute.g] if attribute.HasField("g") else []), *attribute.graphs):
                    needed.update(_all_names(sub))
        dead = [n for n in graph.node if not any(o in needed for o in n.output if o)]
        if not dead:
            return
        for node in dead:
            graph.node.remove(node)


def load_graph(data: bytes, name: str) -> onnx.ModelProto:
    """Parse and check an ONNX file's bytes; a malformed one is refused with the reason in one line."""
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf's DecodeError and friends: the file is not an ONNX model
        raise Invalid(f"{name} is not a readable ONNX model ({first_line(exc)})") from None
    if any(t.data_location == TensorProto.EXTERNAL for t in model.graph.initializer):
        raise Invalid(
            f"{name} keeps its weights in external data files; save it as one file "
            "(onnx.save(model, path, save_as_external_data=False)) and import that"
        )
    if not model.graph.node:
        raise Invalid(f"{name} is not an ONNX model with a graph (no nodes); check the file")
    check_opset(model)
    input_shape(model)  # its own messages before ONNX Runtime's (which calls a missing rank a missing field)
    # No onnx.checker pass: ONNX Runtime, which serves the graph, checks it when the import runs it, and
    # its verdict is the one that matters (the checker cost 0.2 s of a 100 MB import).
    return model

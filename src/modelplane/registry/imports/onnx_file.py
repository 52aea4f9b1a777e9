"""An ONNX graph from elsewhere: signature read from the graph, run once, rewired to the contract.

Every import that ends in an ONNX graph (ONNX files, skops models converted with skl2onnx, TorchScript
converted with torch.onnx, MLflow's onnx flavour) finishes here, so they all serve through ONNX Runtime
like trained versions do. One ONNX Runtime session is made per import: on the probe graph (the user's
nodes, the contract's input, the user's scores out), whose output on a sample row decides the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from modelplane.errors import Invalid
from modelplane.models.onnx_checks import first_line
from modelplane.registry.imports.imported import Imported, onnx_version
from modelplane.registry.imports.onnx_contract import (
    Plan,
    add_head,
    add_tail,
    input_shape,
    load_graph,
    look_like_probabilities,
    plan_outputs,
    signature,
)
from modelplane.registry.imports.options import ImportOptions
from modelplane.registry.imports.samples import sample_rows


@dataclass
class Graph:
    """The contract graph written to `path`, with what the import learnt about it."""

    path: Path
    task: str
    input_shape: list[int]
    num_outputs: int
    classes: list[str] | None
    signature: dict[str, Any]
    verified_on: str
    notes: list[str] = field(default_factory=list)


def import_onnx_bytes(
    data: bytes,
    name: str,
    options: ImportOptions,
    reference: np.ndarray | None,
    out: Path,
    *,
    expected: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Graph:
    """Check, probe and rewire the ONNX model `data` (named `name` in messages); write it to `out`.
    `expected`: the model it was converted from, whose scores on the sample rows the graph must match."""
    model = load_graph(data, name)
    del data
    inputs, outputs = signature(model)
    _, shape = input_shape(model)
    plan = plan_outputs(model, options.task, options.classes is not None)
    add_head(model, plan)
    x, verified_on = sample_rows(shape, reference)
    scores = _probe(model, x, name)
    if expected is not None:
        _agree(expected(x), scores, name)
    _finish(plan, scores)
    add_tail(model, plan)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:  # our tail on their graph: say so rather than serve it
        raise Invalid(f"{name}: the contract's outputs could not be added ({first_line(exc)})") from None
    onnx.save(model, str(out))
    width = int(scores.shape[1]) if plan.task == "regression" or not plan.binary else 2
    return Graph(
        path=out,
        task=plan.task,
        input_shape=shape,
        num_outputs=width,
        classes=plan.classes,
        signature={"inputs": [t.to_dict() for t in inputs], "outputs": [t.to_dict() for t in outputs]},
        verified_on=verified_on,
        notes=plan.notes,
    )


def _probe(model: onnx.ModelProto, x: np.ndarray, name: str) -> np.ndarray:
    """The user's scores on `x` from one ONNX Runtime session; ORT's reason in one line where it fails."""
    from modelplane.runtimes.onnx_runtime import OnnxRuntime

    try:
        runtime = OnnxRuntime(model.SerializeToString(), threads=1)
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/NotImplemented types
        raise Invalid(f"ONNX Runtime cannot load {name}: {_ort_reason(exc)}") from None
    try:
        out = runtime.predict(x)
    except Invalid:
        raise
    except Exception as exc:
        raise Invalid(f"{name} loads but fails on a row of its input shape: {_ort_reason(exc)}") from None
    scores = next(iter(out.values()))
    if not np.all(np.isfinite(scores)):
        raise Invalid(f"{name} gives NaN or infinite outputs on {len(x)} sample row(s); check the model")
    return scores


def _agree(expected: np.ndarray, scores: np.ndarray, name: str) -> None:
    want = np.asarray(expected, dtype=np.float64).reshape(scores.shape[0], -1)
    if want.shape != scores.shape or not np.allclose(want, scores, atol=1e-4, rtol=1e-4):
        worst = float(np.max(np.abs(want - scores))) if want.shape == scores.shape else float("nan")
        raise Invalid(
            f"{name}'s ONNX conversion disagrees with the model (max difference {worst:.3g}, shapes "
            f"{want.shape} vs {scores.shape}); it cannot be served faithfully"
        )


def _ort_reason(exc: BaseException) -> str:
    """ONNX Runtime's message without its source-file prefix, on one line."""
    text = " ".join(str(exc).split())
    for marker in (" : FAIL : ", " : INVALID_GRAPH : ", " : NOT_IMPLEMENTED : ", " : INVALID_ARGUMENT : "):
        text = text.split(marker, 1)[-1]
    if ".cc:" in text or ".h:" in text:  # "/onnxruntime_src/...cc:123 void f(...) reason"
        text = text.split(") ", 1)[-1] if ") " in text else text
    return text[:300]


def _finish(plan: Plan, scores: np.ndarray) -> None:
    """Settle what the graph alone could not say, from its scores on the sample rows."""
    if plan.task != "classification":
        return
    width = scores.shape[1]
    plan.binary = width == 1
    if plan.softmax and look_like_probabilities(scores):
        plan.softmax = False  # a graph that ends in its own normalisation (Div by the sum, a forest)
    if not plan.softmax and not look_like_probabilities(scores):
        plan.softmax = True
    if plan.softmax:
        plan.notes.append(
            "the graph gives scores; probabilities are their " + ("sigmoid" if plan.binary else "softmax")
        )
    classes = plan.classes
    count = 2 if plan.binary else width
    if classes is not None and len(classes) != count:
        plan.classes = None


def import_onnx_file(
    path: Path, options: ImportOptions, reference: np.ndarray | None, scratch: Path
) -> Imported:
    """An ONNX file as an ONNX-only version."""
    graph = import_onnx_bytes(path.read_bytes(), path.name, options, reference, scratch / "model.onnx")
    return onnx_version(graph, "onnx", path)

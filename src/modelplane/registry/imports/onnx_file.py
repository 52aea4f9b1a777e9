"""An ONNX graph from elsewhere: signature read from the graph, run once, rewired to the contract.

Every import that ends in an ONNX graph (ONNX files, skops models converted with skl2onnx, TorchScript
converted with torch.onnx, MLflow's onnx flavour) finishes here, so they all serve through ONNX Runtime
like trained versions do. One ONNX Runtime session is made per import: on the probe graph (the user's
nodes, the contract's input, the user's scores out), whose output on a sample row decides the rest.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper

from modelplane.errors import Invalid
from modelplane.registry.imports.imported import Imported, file_sha256, onnx_version
from modelplane.registry.imports.onnx_contract import (
    SCORES_OUTPUT,
    Plan,
    add_head,
    add_tail,
    input_shape,
    load_graph,
    look_like_probabilities,
    plan_outputs,
    signature,
)
from modelplane.registry.imports.onnx_splice import save_spliced
from modelplane.registry.imports.options import ImportOptions
from modelplane.registry.imports.samples import sample_rows
from modelplane.runtimes.base import INPUT_NAME


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


def import_onnx_graph(
    source: Path,
    name: str,
    options: ImportOptions,
    reference: np.ndarray | None,
    out: Path,
    *,
    expected: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Graph:
    """Check, probe and rewire the ONNX model at `source` (named `name` in messages); write it to `out`.
    `expected`: the model it was converted from, whose scores on the sample rows the graph must match."""
    read = _stamp(source)
    model = load_graph(source.read_bytes(), name)
    inputs, outputs = signature(model)
    value, shape = input_shape(model)
    plan = plan_outputs(model, options.task, options.classes is not None)
    x, verified_on = sample_rows(shape, reference)
    if plan.source in {o.name for o in model.graph.output}:  # the file itself answers: run it as it is
        feed = x.astype(helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type))
        scores = _run(source, {value.name: feed}, plan.source, name)
        add_head(model, plan)
    else:  # the scores are inside (a ZipMap's input): run the graph with them as its output
        add_head(model, plan)
        probe = out.with_name("probe.onnx")
        onnx.save(model, str(probe))
        try:
            scores = _run(probe, {INPUT_NAME: x}, SCORES_OUTPUT, name)
        finally:
            probe.unlink()
    if expected is not None:
        _agree(expected(x), scores, name)
    _finish(plan, scores)
    add_tail(model, plan)  # standard ops on the tensor just checked; the server loads the result
    # The weights are copied from the file rather than serialised again (onnx_splice.py), where it is
    # still the file parsed; nothing of it is kept from the parse (one copy less while ONNX Runtime runs).
    if _stamp(source) == read:
        save_spliced(model, out, source)
    else:  # changed while imported: write what was parsed and checked
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


def _stamp(path: Path) -> tuple[int, int, int]:
    status = path.stat()
    return status.st_ino, status.st_size, status.st_mtime_ns


def _run(path: Path, feed: dict[str, np.ndarray], output: str, name: str) -> np.ndarray:
    """`output` on `feed` as float32 (N, k), from the one ONNX Runtime session of the import; ORT's reason
    in one line where the graph does not load or run."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    # One row is run once: repacking the weights for fast batched MatMuls would copy them for nothing
    # (0.1 s of a 100 MB import). Graph optimisations stay on, as when the version is served.
    options.add_session_config_entry("session.disable_prepacking", "1")
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/NotImplemented types
        raise Invalid(f"ONNX Runtime cannot load {name}: {_ort_reason(exc)}") from None
    try:
        (got,) = session.run([output], feed)
    except Exception as exc:
        raise Invalid(f"{name} loads but fails on a row of its input shape: {_ort_reason(exc)}") from None
    scores = np.asarray(got, dtype=np.float32).reshape(len(next(iter(feed.values()))), -1)
    if not np.all(np.isfinite(scores)):
        raise Invalid(f"{name} gives NaN or infinite outputs on {len(scores)} sample row(s); check the model")
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
    text = re.sub(r"Load model from \S+ failed:\s*", "", " ".join(str(exc).split()))  # no server paths
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
    looks = look_like_probabilities(scores)
    if not looks:  # values outside [0, 1], or rows that do not sum to 1: scores, whatever made them
        plan.softmax = True
    elif plan.softmax and not plan.binary:  # ends in its own normalisation (a Div by the sum, a forest)
        plan.softmax = False
    # One value in [0, 1] on a sample row says little: for one column, the op that made it decides.
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
    """An ONNX file as an ONNX-only version. Its sha256 (the lineage's) is taken beside the graph work."""
    with ThreadPoolExecutor(1) as pool:
        digest = pool.submit(file_sha256, path)
        graph = import_onnx_graph(path, path.name, options, reference, scratch / "model.onnx")
        return onnx_version(graph, "onnx", path, sha256=digest.result())

"""Checks every exported graph passes before it is stored or served: the ONNX checker, the contract's names,
a symbolic batch axis, and agreement with the model it came from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from modelplane.errors import IntegrityError, Invalid
from modelplane.runtimes.base import INPUT_NAME, OUTPUT_NAMES, Runtime

BATCH_DIM = "batch"


def first_line(error: BaseException) -> str:
    """Exporter errors run to pages of graph dumps; the first line names the problem."""
    return f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0][:200]}"


def strip_debug_metadata(model: onnx.ModelProto) -> None:
    """Drop the exporter's per-node debug notes (stack traces with this machine's file paths, FX names).

    They are ~11% of a small MLP's file, differ between checkouts (so identical models hash differently)
    and tell whoever downloads the file where it was built; no runtime reads them.
    """
    for node in model.graph.node:
        del node.metadata_props[:]


def check_onnx(path: Path, task: str) -> None:
    """Checker, contract names and a symbolic batch axis: a file failing these must not be served."""
    onnx.checker.check_model(str(path), full_check=True)
    graph = onnx.load(str(path)).graph
    outputs = [o.name for o in graph.output]
    if [i.name for i in graph.input] != [INPUT_NAME] or outputs != OUTPUT_NAMES[task]:
        raise IntegrityError(
            f"exported graph has inputs {[i.name for i in graph.input]} and outputs {outputs}, "
            f"not [{INPUT_NAME!r}] and {OUTPUT_NAMES[task]}; this is an exporter bug, report it"
        )
    batch = graph.input[0].type.tensor_type.shape.dim[0]
    if not batch.dim_param:
        path.unlink()
        raise Invalid(
            f"the exported graph fixes the batch size to {batch.dim_value}: the model specialises its batch "
            "dimension (e.g. x.view(2, -1)); use x.flatten(1) or x.reshape(x.shape[0], -1) and export again"
        )


def verify_export(
    reference: Runtime, candidate: Runtime, x: np.ndarray, *, atol: float = 1e-4, rtol: float = 0.0
) -> float:
    """Compare every output of ``candidate`` with ``reference`` on ``x``; return the max abs difference.

    Values must agree within ``atol + rtol * |reference|`` (rtol is for regression targets in the
    thousands, where float32 itself cannot hold 1e-4). Labels may differ only on rows whose top two
    reference probabilities are within ``atol`` (a near-tie that float rounding may break either way).
    """
    ref, cand = reference.predict(x), candidate.predict(x)
    missing = [name for name in ref if name not in cand]
    if missing:
        raise IntegrityError(f"exported model lacks outputs {missing}; re-export it")
    worst = 0.0
    for name, expected in ref.items():
        got = cand[name]
        if got.shape != expected.shape or got.dtype != expected.dtype:
            raise IntegrityError(
                f"output {name!r} is {got.dtype}{got.shape}, expected {expected.dtype}{expected.shape}; "
                "the export does not follow the output contract"
            )
        if name == "label":
            _check_labels(expected, got, ref.get("probabilities"), atol)
            continue
        expected64 = expected.astype(np.float64)
        error = np.abs(expected64 - got.astype(np.float64))
        diff = float(np.max(error, initial=0.0))
        if not np.all(error <= atol + rtol * np.abs(expected64)):  # written so that NaN fails too
            raise IntegrityError(
                f"output {name!r} differs from the reference by up to {diff:.3g} "
                f"(atol {atol:g}, rtol {rtol:g}); the export is not faithful, do not serve it"
            )
        worst = max(worst, diff)
    return worst


def _check_labels(
    expected: np.ndarray, got: np.ndarray, probabilities: np.ndarray | None, atol: float
) -> None:
    differ = expected != got
    if not differ.any():
        return
    if probabilities is not None and probabilities.shape[1] >= 2:
        top2 = np.sort(probabilities[differ].astype(np.float64), axis=1)[:, -2:]
        differ[differ] = top2[:, 1] - top2[:, 0] > atol
    if differ.any():
        raise IntegrityError(
            f"output 'label' differs from the reference on {int(differ.sum())} of {len(differ)} rows "
            "that are not near-ties; the export is not faithful, do not serve it"
        )

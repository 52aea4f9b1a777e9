"""Export models to ONNX / TorchScript files that speak the serving contract, and verify them.

An exported file returns exactly what ``modelplane.runtimes`` promises (``label`` +
``probabilities`` or ``prediction``, input ``input`` with a dynamic batch axis), so a server can
load it without knowing where it came from. ``verify_export`` is the gate before such a file is served.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper
from torch import nn

from modelplane.errors import IntegrityError, Invalid
from modelplane.runtimes.base import INPUT_NAME, OUTPUT_NAMES, Runtime, check_task
from modelplane.runtimes.sklearn_runtime import check_sklearn_pipeline
from modelplane.runtimes.torchscript_runtime import TORCHSCRIPT_METADATA

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

BATCH_DIM = "batch"
# torch.export specialises a dimension whose example size is 1 (0/1 specialisation): trace with 2 rows.
_EXAMPLE_BATCH = 2
_FLAT_INPUT = "input_flat"
_CONVERTER_LABEL = "sklearn_label"


class _ContractModule(nn.Module):
    """Puts softmax/argmax inside the graph so the exported file returns the contract's outputs."""

    def __init__(self, model: nn.Module, task: str) -> None:
        super().__init__()
        self.model = model
        self.classification = check_task(task) == "classification"

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.model(x).float()
        if self.classification:
            probabilities = torch.softmax(out, dim=-1)
            return {"label": torch.argmax(probabilities, dim=-1), "probabilities": probabilities}
        return {"prediction": out.unsqueeze(-1) if out.ndim == 1 else out}


def _example(model: nn.Module, input_shape: Sequence[int], batch: int = _EXAMPLE_BATCH) -> torch.Tensor:
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    generator = torch.Generator().manual_seed(0)
    return torch.rand((batch, *input_shape), generator=generator).to(device)


@contextmanager
def _quiet_exporter() -> Iterator[None]:
    """torch.export logs missing torchvision ops and deprecations that are not the user's business."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        logger.setLevel(level)


def export_torch_onnx(
    model: nn.Module, *, task: str, input_shape: Sequence[int], path: Path, opset: int | None = None
) -> Path:
    """Write a single self-contained .onnx file; puts ``model`` in eval mode."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapper = _ContractModule(model, task).eval()
    # torch.export (dynamo=True, the default since torch 2.9) rather than the legacy TorchScript tracer:
    # the tracer folds Python-int shape arithmetic (int(x.shape[0]), view(2, -1)) into constants, with
    # only a TracerWarning, while dynamic_axes still declares the batch dynamic, so the file breaks or
    # is wrong at other batch sizes. torch.export keeps the batch symbolic, and where the model does
    # specialise it the graph's input shows a fixed size, which check_onnx rejects. The legacy exporter
    # is also deprecated.
    try:
        with _quiet_exporter():
            torch.onnx.export(
                wrapper,
                (_example(model, input_shape),),
                str(path),
                input_names=[INPUT_NAME],
                output_names=OUTPUT_NAMES[task],
                dynamic_shapes=({0: torch.export.Dim(BATCH_DIM)},),
                opset_version=opset,
                dynamo=True,
                external_data=False,
                verbose=False,
            )
    except torch.onnx.errors.OnnxExporterError as e:
        raise Invalid(
            f"torch.export cannot capture the model ({_first_line(e.__cause__ or e)}); check that "
            "input_shape matches the model and replace data-dependent Python control flow "
            "(torch.where, torch.cond), or serve it with the native torch runtime"
        ) from e
    exported = onnx.load(str(path))
    strip_debug_metadata(exported)
    onnx.save(exported, str(path))
    check_onnx(path, task)
    return path


def strip_debug_metadata(model: onnx.ModelProto) -> None:
    """Drop the exporter's per-node debug notes (stack traces with this machine's file paths, FX names).

    They are ~11% of a small MLP's file, differ between checkouts (so identical models hash differently)
    and tell whoever downloads the file where it was built; no runtime reads them.
    """
    for node in model.graph.node:
        del node.metadata_props[:]


def export_sklearn_onnx(pipeline: Pipeline, *, task: str, input_shape: Sequence[int], path: Path) -> Path:
    """Convert with skl2onnx, then rewire the graph to the contract.

    The graph flattens ``(N, *input_shape)`` itself and computes ``label`` as ArgMax of
    ``probabilities`` (the class index, as SklearnRuntime does) instead of the converter's label,
    which holds the class *values* from ``classes_``.
    """
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MaxAbsScaler, RobustScaler, StandardScaler

    check_sklearn_pipeline(pipeline, task)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    width = math.prod(input_shape)
    final = pipeline[-1] if isinstance(pipeline, Pipeline) else pipeline
    # Sub then Div in float32, as sklearn computes: the default Scaler op multiplies by 1/scale, and that
    # last-bit difference sends samples lying exactly on a tree threshold down the other branch.
    options: dict[object, dict[str, object]] = {
        s: {"div": "div"} for s in (StandardScaler, RobustScaler, MaxAbsScaler)
    }
    if task == "classification":
        options[id(final)] = {"zipmap": False}
    try:
        model = convert_sklearn(
            pipeline,
            initial_types=[(_FLAT_INPUT, FloatTensorType([None, width]))],
            options=options,
        )
    # MissingShapeCalculator/MissingConverter are RuntimeErrors; converter bugs on newer sklearn/onnx
    # (e.g. HistGradientBoosting with skl2onnx 1.20 + onnx 1.23) surface as ValueError/TypeError.
    except (RuntimeError, ValueError, TypeError, NotImplementedError) as e:
        steps = " -> ".join(type(s).__name__ for s in pipeline) if isinstance(pipeline, Pipeline) else ""
        reason = _first_line(e.__cause__ or e)  # skl2onnx wraps onnx's own error, which says more
        raise Invalid(
            f"{steps or type(pipeline).__name__} cannot be exported to ONNX by skl2onnx ({reason}); "
            "it will be served by the native sklearn runtime"
        ) from e
    # Output widths come from the fitted model: skl2onnx declares (N, 1) even for multi-output regressors.
    if task == "classification":
        n_outputs = len(pipeline.classes_)
    else:
        n_outputs = np.asarray(pipeline.predict(np.zeros((1, width), np.float32))).reshape(1, -1).shape[1]
    _to_contract(model.graph, task, input_shape, n_outputs)
    onnx.save(model, str(path))
    check_onnx(path, task)
    return path


def _first_line(error: BaseException) -> str:
    """Exporter errors run to pages of graph dumps; the first line names the problem."""
    return f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0][:200]}"


def _to_contract(graph: onnx.GraphProto, task: str, input_shape: Sequence[int], n_outputs: int) -> None:
    """Rename/replace the converter's inputs and outputs with the contract's, in place."""
    graph.node.insert(0, helper.make_node("Flatten", [INPUT_NAME], [_FLAT_INPUT], axis=1))
    del graph.input[:]
    graph.input.append(
        helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [BATCH_DIM, *input_shape])
    )
    if task == "classification":
        label, probabilities = (o.name for o in graph.output)
        _rename(graph, label, _CONVERTER_LABEL)
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


def export_torchscript(model: nn.Module, *, task: str, input_shape: Sequence[int], path: Path) -> Path:
    """Trace (not script: scripting rejects most modules' Python) and save with ``torch.jit.save``.

    The trace is checked on a second batch size, so a module that bakes its batch size in fails here
    rather than in serving; a data-dependent branch is frozen to the one the example took, which only
    ``verify_export`` on real data can catch. The task and input shape travel inside the file for
    TorchScriptRuntime.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapper = _ContractModule(model, task).eval()
    check = (_example(model, input_shape, batch=_EXAMPLE_BATCH + 1),)
    try:
        with torch.no_grad():
            traced = torch.jit.trace(
                wrapper, _example(model, input_shape), strict=False, check_inputs=[check]
            )
    except (torch.jit.TracingCheckError, RuntimeError) as e:
        raise Invalid(
            f"tracing the model failed or does not hold for another batch size ({_first_line(e)}); check "
            "that input_shape matches the model and that forward does not fix the batch size"
        ) from e
    meta = {"task": task, "input_shape": [int(d) for d in input_shape]}
    torch.jit.save(traced, str(path), _extra_files={TORCHSCRIPT_METADATA: json.dumps(meta)})
    return path


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

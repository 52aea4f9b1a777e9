"""torch models as files that speak the runtime contract: ONNX (torch.export) and TorchScript (tracing).

The written file returns exactly what the runtimes promise (``label`` + ``probabilities`` or
``prediction``, input ``input`` with a dynamic batch axis), so a server can load it without knowing where
it came from; ``models.onnx_checks.verify_export`` is the gate before it is served.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import onnx
import torch
from torch import nn

from modelplane.errors import Invalid
from modelplane.models.onnx_checks import BATCH_DIM, check_onnx, first_line, strip_debug_metadata
from modelplane.runtimes.base import INPUT_NAME, OUTPUT_NAMES, check_task
from modelplane.runtimes.torchscript_runtime import TORCHSCRIPT_METADATA

# torch.export specialises a dimension whose example size is 1 (0/1 specialisation): trace with 2 rows.
_EXAMPLE_BATCH = 2


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
            f"torch.export cannot capture the model ({first_line(e.__cause__ or e)}); check that "
            "input_shape matches the model and replace data-dependent Python control flow "
            "(torch.where, torch.cond), or serve it with the native torch runtime"
        ) from e
    exported = onnx.load(str(path))
    strip_debug_metadata(exported)
    onnx.save(exported, str(path))
    check_onnx(path, task)
    return path


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
            f"tracing the model failed or does not hold for another batch size ({first_line(e)}); check "
            "that input_shape matches the model and that forward does not fix the batch size"
        ) from e
    meta = {"task": task, "input_shape": [int(d) for d in input_shape]}
    torch.jit.save(traced, str(path), _extra_files={TORCHSCRIPT_METADATA: json.dumps(meta)})
    return path



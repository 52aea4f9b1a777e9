"""One prediction contract for torch, TorchScript, sklearn and ONNX models.

Every runtime takes ``input`` as float32 ``(N, *input_shape)`` (uint8 and other real numeric
dtypes are cast) and returns
classification: ``{"label": int64 (N,), "probabilities": float32 (N, C)}`` with
``label == argmax(probabilities)`` (the class index, 0..C-1);
regression: ``{"prediction": float32 (N, k)}``.
Serving and batch prediction rely only on this, never on the model's framework.
Torch is imported lazily so ONNX- and sklearn-only deployments do not pay for it.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from modelplane.cores import usable_cores
from modelplane.errors import Invalid, NotFound

if TYPE_CHECKING:
    import torch
    from sklearn.pipeline import Pipeline

log = logging.getLogger(__name__)

INPUT_NAME = "input"
OUTPUT_NAMES: dict[str, list[str]] = {
    "classification": ["label", "probabilities"],
    "regression": ["prediction"],
}
# Written into TorchScript files so they describe themselves the way ONNX graphs do.
TORCHSCRIPT_METADATA = "modelplane.json"


class Runtime(Protocol):
    input_name: str
    output_names: list[str]

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]: ...


def check_task(task: str) -> str:
    if task not in OUTPUT_NAMES:
        raise Invalid(f"unknown task {task!r}; use one of {sorted(OUTPUT_NAMES)}")
    return task


def check_sklearn_pipeline(pipeline: Pipeline, task: str) -> None:
    """Refuse a pipeline that cannot honour the contract, before it reaches a request."""
    from sklearn.base import is_classifier

    if check_task(task) == "classification" and not hasattr(pipeline, "predict_proba"):
        final = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
        raise Invalid(
            f"{type(final).__name__} has no predict_proba, so it cannot give class probabilities; "
            "use an estimator with predict_proba (e.g. wrap it in CalibratedClassifierCV)"
        )
    if task == "regression" and is_classifier(pipeline):
        raise Invalid("the pipeline is a classifier but the task is 'regression'; use task='classification'")


def as_float32(x: np.ndarray, input_shape: Sequence[int | str | None] | None = None) -> np.ndarray:
    """Cast to float32 and check the shape is (N, *input_shape); symbolic dims match anything."""
    x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise Invalid(f"input must be a real numeric array (float32 or uint8), got dtype {x.dtype}")
    if input_shape is not None:
        expected = list(input_shape)
        ok = x.ndim == len(expected) + 1 and all(
            not isinstance(e, int) or e == d for e, d in zip(expected, x.shape[1:], strict=True)
        )
        if not ok:
            raise Invalid(
                f"input has shape {x.shape} but the model takes (N, {', '.join(map(str, expected))}); "
                "reshape the batch to match"
            )
    return np.ascontiguousarray(x, dtype=np.float32)


def _as_2d(a: np.ndarray) -> np.ndarray:
    return a.reshape(len(a), -1)


class OnnxRuntime:
    """onnxruntime session; ``run`` releases the GIL, so threads serving requests run in parallel."""

    def __init__(
        self,
        model: str | Path | bytes,
        *,
        threads: int | None = None,
        providers: Sequence[str] | None = None,
        memory_pattern: bool = True,
    ) -> None:
        """`memory_pattern`: ONNX Runtime plans one block per input shape it sees and keeps it; off for
        batch prediction, whose chunks end in a batch of another size (digits cnn at 4096 rows: 70 MB
        instead of 105 MB of arena, at the same speed)."""
        import onnxruntime as ort

        if not isinstance(model, bytes):
            model = Path(model)
            if not model.is_file():
                raise NotFound(f"ONNX model file {model} does not exist; export the model first")
            model = str(model)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or usable_cores()
        options.inter_op_num_threads = 1
        # Idle intra-op threads would spin between calls, taking the core the event loop (or the batch
        # reader) needs next: digits MLP served at c=64 on 2 cores, 16.7k vs 12.6k req/s without spinning.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.enable_mem_pattern = memory_pattern
        self._session = ort.InferenceSession(
            model, sess_options=options, providers=_pick_providers(providers, ort.get_available_providers())
        )
        inp = self._session.get_inputs()[0]
        self.input_name: str = inp.name
        self.input_shape: list[int | str | None] = list(inp.shape[1:])
        self.output_names: list[str] = [o.name for o in self._session.get_outputs()]

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        feed = {self.input_name: as_float32(x, self.input_shape)}
        return dict(zip(self.output_names, self._session.run(self.output_names, feed), strict=True))


def _pick_providers(requested: Sequence[str] | None, available: Sequence[str]) -> list[str]:
    """Requested providers that exist here, CPU always last as the fallback."""
    chosen = [p for p in (requested or []) if p in available and p != "CPUExecutionProvider"]
    missing = [p for p in (requested or []) if p not in available]
    if missing:
        log.warning("onnxruntime providers %s are not available here; falling back to CPU", missing)
    return [*chosen, "CPUExecutionProvider"]


def _torch_outputs(out: torch.Tensor, task: str) -> dict[str, np.ndarray]:
    import torch

    if task == "classification":
        probabilities = torch.softmax(out.float(), dim=-1)
        return {
            "label": torch.argmax(probabilities, dim=-1).to(torch.int64).cpu().numpy(),
            "probabilities": probabilities.cpu().numpy(),
        }
    return {"prediction": _as_2d(out.float().cpu().numpy())}


class TorchRuntime:
    """An ``nn.Module`` returning logits (classification) or values (regression), in eval mode."""

    def __init__(self, module: torch.nn.Module, *, task: str, device: str = "cpu") -> None:
        self.task = check_task(task)
        self.device = device
        self.module = module.to(device).eval()
        self.input_name = INPUT_NAME
        self.output_names = list(OUTPUT_NAMES[task])

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        import torch

        with torch.inference_mode():
            out = self.module(torch.from_numpy(as_float32(x)).to(self.device))
        return _torch_outputs(out, self.task)


class TorchScriptRuntime:
    """A file written by ``export_torchscript``: the graph already returns the contract's outputs."""

    def __init__(self, path: str | Path, *, device: str = "cpu") -> None:
        import torch

        path = Path(path)
        if not path.is_file():
            raise NotFound(f"TorchScript file {path} does not exist; export the model first")
        extra = {TORCHSCRIPT_METADATA: ""}
        self.module = torch.jit.load(str(path), map_location=device, _extra_files=extra).eval()
        if not extra[TORCHSCRIPT_METADATA]:
            raise Invalid(
                f"{path} was not written by export_torchscript (no {TORCHSCRIPT_METADATA}); re-export it"
            )
        meta = json.loads(extra[TORCHSCRIPT_METADATA])
        self.device = device
        self.task = check_task(meta["task"])
        self.input_shape: list[int] = meta["input_shape"]
        self.input_name = INPUT_NAME
        self.output_names = list(OUTPUT_NAMES[self.task])

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        import torch

        with torch.inference_mode():
            out = self.module(torch.from_numpy(as_float32(x, self.input_shape)).to(self.device))
        return {name: out[name].cpu().numpy() for name in self.output_names}


class SklearnRuntime:
    """A fitted pipeline taking flattened float32 rows.

    ``label`` is ``argmax(predict_proba)``: the class index (position in ``classes_``), the same rule
    as the torch and ONNX runtimes. For SVC(probability=True) this can differ from ``predict`` on rare
    points, since sklearn's ``predict`` uses the decision function there, not the calibrated probabilities.
    """

    def __init__(self, pipeline: Pipeline, *, task: str, input_shape: Sequence[int]) -> None:
        check_sklearn_pipeline(pipeline, task)
        self.pipeline = pipeline
        self.task = task
        self.input_shape = [int(d) for d in input_shape]
        self.input_name = INPUT_NAME
        self.output_names = list(OUTPUT_NAMES[task])

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        batch = as_float32(x, self.input_shape)
        flat = batch.reshape(len(batch), math.prod(self.input_shape))
        if self.task == "classification":
            probabilities = np.asarray(self.pipeline.predict_proba(flat), dtype=np.float32)
            return {"label": probabilities.argmax(axis=1).astype(np.int64), "probabilities": probabilities}
        return {"prediction": _as_2d(np.asarray(self.pipeline.predict(flat), dtype=np.float32))}

"""Fakes for serving tests: a small real InferenceService for front-end tests (an ONNX classifier,
"iris-like", 4 features, 3 classes), and a table runtime that reads structured rows as a version with
preprocessing does (the model manager serves it like any other runtime).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modelplane.errors import Invalid, NotFound
from modelplane.models.torch_export import export_torch_onnx
from modelplane.runtimes.onnx_runtime import OnnxRuntime
from modelplane.serving.types import InferRequest, InferResult, ModelMeta, TensorMeta
from modelplane.tables.columns import Column
from modelplane.tables.signature import TableSignature

FEATURES = 4
CLASSES = 3


def tiny_classifier_onnx(path: Path) -> Path:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(FEATURES, 8), torch.nn.ReLU(), torch.nn.Linear(8, CLASSES))
    return export_torch_onnx(model, task="classification", input_shape=[FEATURES], path=path)


class StubService:
    """Serves one model named `tiny` (version "1") through ONNX Runtime, validating like the real one."""

    def __init__(self, onnx_path: Path) -> None:
        self.runtime = OnnxRuntime(onnx_path)
        self.meta = ModelMeta(
            name="tiny",
            versions=("1",),
            platform="onnxruntime_onnx",
            inputs=(TensorMeta("input", "FP32", (-1, FEATURES)),),
            outputs=(TensorMeta("label", "INT64", (-1,)), TensorMeta("probabilities", "FP32", (-1, CLASSES))),
        )
        self.calls: list[int] = []

    def _check(self, model: str, version: str | None) -> None:
        if model != "tiny":
            raise NotFound(f"model '{model}' is not deployed")
        if version not in (None, "", "1"):
            raise NotFound(f"model 'tiny' has no version {version}")

    def server_live(self) -> bool:
        return True

    def server_ready(self) -> bool:
        return True

    def server_metadata(self) -> dict[str, Any]:
        return {"name": "modelplane", "version": "test", "extensions": ["binary_tensor_data"]}

    def model_ready(self, model: str, version: str | None) -> bool:
        self._check(model, version)
        return True

    def model_metadata(self, model: str, version: str | None) -> ModelMeta:
        self._check(model, version)
        return self.meta

    def check_room(self, model: str, version: str | None) -> None:
        """Never full: no queue here."""

    async def infer(self, request: InferRequest) -> InferResult:
        self._check(request.model, request.version)
        if set(request.inputs) != {"input"}:
            raise Invalid(f"model 'tiny' takes one input named 'input', got {sorted(request.inputs)}")
        x = request.inputs["input"]
        if x.dtype != np.float32:
            raise Invalid(f"input 'input' must be FP32, got {x.dtype}")
        if x.ndim != 2 or x.shape[1] != FEATURES:
            raise Invalid(f"input 'input' expects shape [-1, {FEATURES}], got {list(x.shape)}")
        self.calls.append(len(x))
        outputs = await asyncio.to_thread(self.runtime.predict, x)
        names = request.outputs or [t.name for t in self.meta.outputs]
        unknown = [n for n in names if n not in outputs]
        if unknown:
            raise Invalid(f"model 'tiny' has no output {unknown[0]!r}; outputs are label, probabilities")
        return InferResult(
            model="tiny", version="1", outputs={n: outputs[n] for n in names}, id=request.id, parameters={}
        )


# A churn-like table: two categorical columns, a number and a boolean, in training order.
TABLE = TableSignature(
    (
        Column("plan", "categorical"),
        Column("tenure", "numeric"),
        Column("autopay", "boolean"),
        Column("region", "categorical"),
    )
)
SEEN = ({"basic", "pro"}, {"eu", "us"})  # the categories each categorical column had in training


class TableRuntime:
    """Reads `TABLE.rows` as a runtime with preprocessing would: NaN numbers are imputed (as 0), a
    category never seen in training is flagged in `unknown` ([N, 2], int64). Three classes; scores are
    simple functions of the columns so tests can compute the expected answer."""

    def __init__(self) -> None:
        self.input_name = "rows"
        self.output_names = ["label", "probabilities", "unknown"]
        self.platform = "table_fake"
        self.batches: list[int] = []

    def predict(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        assert rows.dtype == TABLE.rows_dtype, rows.dtype
        self.batches.append(len(rows))
        numbers = np.nan_to_num(rows["numeric"].astype(np.float64))
        plan, region = rows["categorical"][:, 0], rows["categorical"][:, 1]
        logits = np.stack(
            [numbers[:, 0] / 10, numbers[:, 1] + (plan == "pro"), (region == "us").astype(np.float64)], axis=1
        )
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities = (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)
        unknown = np.stack(
            [
                [v != "" and v not in seen for v in column]
                for column, seen in zip((plan, region), SEEN, strict=True)
            ],
            axis=1,
        ).astype(np.int64)
        return {"label": probabilities.argmax(axis=1), "probabilities": probabilities, "unknown": unknown}

"""A version fitted on a table: its preprocessing graph in front of the model, taking rows of raw named
columns (the structured arrays of tables/signature.py) and answering like any runtime, plus `unknown`
(int64 [N, categorical columns], 1 where a category was never seen at training) when it has categories.

With ONNX Runtime the preprocessing and the model are one merged graph, one session call per batch; with
the other runtimes the preprocessing graph runs in its own session and hands its features to the model.
Either way the preprocessing that runs is the fitted graph, never a second implementation."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from modelplane.runtimes.base import Runtime
from modelplane.runtimes.onnx_runtime import OnnxRuntime
from modelplane.tables.prep_onnx import FEATURES, UNKNOWN
from modelplane.tables.signature import TableSignature

if TYPE_CHECKING:
    import onnx

    from modelplane.tables.prep import Preprocessor


def _feeds(signature: TableSignature, x: np.ndarray) -> dict[str, np.ndarray]:
    """The graph's block inputs from structured rows (or one float matrix of an all-numeric model)."""
    if x.dtype.names is None:
        x = signature.rows_from_matrix(np.asarray(x))
    return {name: np.ascontiguousarray(x[name]) for name in x.dtype.names or ()}


class MergedTableRuntime:
    """ONNX Runtime on the merged graph: preprocessing and model in one session call."""

    platform = "onnxruntime_onnx"
    input_name = "rows"
    takes_rows = True

    def __init__(self, graph: bytes, signature: TableSignature, *, threads: int | None, memory_pattern: bool):
        self.signature = signature
        self._session = OnnxRuntime(graph, threads=threads, memory_pattern=memory_pattern)
        self.output_names = self._session.output_names

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return self._session.run(_feeds(self.signature, x))


class PreparedRuntime:
    """The preprocessing graph in its own session, then any runtime on the features it makes."""

    input_name = "rows"
    takes_rows = True

    def __init__(self, prep: Preprocessor, inner: Runtime, *, threads: int | None):
        self.signature = TableSignature(tuple(prep.columns))
        self.platform = inner.platform
        self._prep = OnnxRuntime(prep.onnx_graph().SerializeToString(), threads=threads)
        self._inner = inner
        self._unknown = UNKNOWN in self._prep.output_names
        self.output_names = [*inner.output_names, *([UNKNOWN] if self._unknown else [])]

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        prepared = self._prep.run(_feeds(self.signature, x))
        outputs = self._inner.predict(prepared[FEATURES])
        if self._unknown:
            outputs[UNKNOWN] = prepared[UNKNOWN]
        return outputs


def merged_runtime(
    prep: Preprocessor, graph: onnx.ModelProto, *, threads: int | None, memory_pattern: bool
) -> MergedTableRuntime:
    """ONNX Runtime on `prep` merged in front of the model's graph."""
    merged = prep.merged_with(graph, in_place=True).SerializeToString()
    signature = TableSignature(tuple(prep.columns))
    return MergedTableRuntime(merged, signature, threads=threads, memory_pattern=memory_pattern)

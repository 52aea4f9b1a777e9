"""What a version costs to ship and run: file bytes, parameters, latency per sample under ONNX Runtime."""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from modelplane.models.frameworks import framework
from modelplane.registry.integrity import version_bytes
from modelplane.registry.loading import load_native, load_runtime
from modelplane.registry.views import ONNX_FRAMEWORK, ModelVersionInfo, weights_format
from modelplane.runtimes.adapters import ONNX_FORMAT
from modelplane.runtimes.base import Runtime
from modelplane.runtimes.onnx_runtime import OnnxRuntime
from modelplane.store import Store

BATCH_SIZES = (1, 64)
_ROUNDS = 15
_ROUND_S = 0.005
_WARMUP_CALLS = 5


def serving_format(info: ModelVersionInfo) -> str:
    """The file serving loads: the ONNX export when there is one, else the native weights."""
    return ONNX_FORMAT if info.onnx_sha else weights_format(info.framework)


def file_sizes(store: Store, info: ModelVersionInfo) -> tuple[int, int]:
    """Bytes of the serving file, and of it deflated (zlib level 6): what zeros from pruning would save
    on the wire or on a compressed disk, since the file itself stores them densely."""
    data = version_bytes(store, info, serving_format(info))
    return len(data), len(zlib.compress(data, 6))


def parameter_counts(store: Store, info: ModelVersionInfo) -> tuple[int | None, int | None]:
    """(parameters, nonzero parameters) of a torch network; int8 graphs carry their source's count in
    their params; scikit-learn models have no comparable count (None)."""
    if info.framework == ONNX_FRAMEWORK:
        made: dict[str, Any] = info.params.get("compression", {})
        return made.get("parameters"), made.get("nonzero_parameters")
    counts = framework(info.framework).count_parameters(load_native(store, info))
    return counts if counts is not None else (None, None)


def timing_runtime(store: Store, info: ModelVersionInfo) -> tuple[Runtime, str]:
    """A one-thread ONNX Runtime session where the version has ONNX (the model's cost, not the machine's
    free cores); otherwise the native runtime serving would fall back to."""
    if info.onnx_sha:
        graph = version_bytes(store, info, ONNX_FORMAT)
        return OnnxRuntime(graph, threads=1), "onnxruntime (1 thread)"
    return load_runtime(store, info, preprocessing=False), f"{info.framework} native"


def time_per_sample(runtimes: Sequence[Runtime], inputs: Sequence[np.ndarray]) -> list[dict[str, float]]:
    """Milliseconds per sample at each batch size, for every runtime.

    Runtimes take turns round by round, so a burst of load elsewhere on the machine hits them alike, and
    each keeps its best round: as timeit argues, slower rounds measure interference, not the code.
    """
    calls = [
        {b: _calls_per_round(rt, x[:b]) for b in BATCH_SIZES} for rt, x in zip(runtimes, inputs, strict=True)
    ]
    best = [{f"batch{b}": math.inf for b in BATCH_SIZES} for _ in runtimes]
    for _ in range(_ROUNDS):
        for k, (runtime, x) in enumerate(zip(runtimes, inputs, strict=True)):
            for b in BATCH_SIZES:
                batch, n = x[:b], calls[k][b]
                start = time.perf_counter()
                for _ in range(n):
                    runtime.predict(batch)
                per_sample = (time.perf_counter() - start) * 1e3 / (n * b)
                best[k][f"batch{b}"] = min(best[k][f"batch{b}"], per_sample)
    return best


def _calls_per_round(runtime: Runtime, batch: np.ndarray) -> int:
    """Warm up (lazy allocation, graph planning), then size a round to about _ROUND_S seconds."""
    for _ in range(_WARMUP_CALLS):
        runtime.predict(batch)
    start = time.perf_counter()
    runtime.predict(batch)
    return max(1, min(1000, int(_ROUND_S / max(time.perf_counter() - start, 1e-6))))


def timing_input(input_shape: Sequence[int]) -> np.ndarray:
    """Fixed pseudo-random rows: dense kernels cost the same whatever the values (checked against real
    digits rows), and no dataset has to be read and hashed just to time a model."""
    rng = np.random.default_rng(0)
    return rng.standard_normal((max(BATCH_SIZES), *input_shape)).astype(np.float32)

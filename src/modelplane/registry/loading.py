"""Turn a registered version back into something that predicts (verified bytes only)."""

from __future__ import annotations

from typing import Any

import numpy as np

from modelplane.errors import Invalid
from modelplane.models.frameworks import framework, is_trainable, parse_spec
from modelplane.registry.views import ModelVersionInfo
from modelplane.store import Store

# A version whose weights *are* its ONNX graph (e.g. int8-quantised): ONNX Runtime is its native runtime.
ONNX_FRAMEWORK = "onnx"


def load_native(store: Store, info: ModelVersionInfo) -> Any:
    """The model in its own framework (a torch module, a scikit-learn pipeline...) from verified weights."""
    if not is_trainable(info.framework):
        raise Invalid(
            f"{info.ref} exists only as an ONNX graph (compressed from {info.parent or 'another version'}) "
            "and has no torch or scikit-learn form; use it through ONNX Runtime (--runtime onnx) or load "
            "its parent"
        )
    path = store.artifacts.verified_path(info.weights_sha)
    return framework(info.framework).load_weights(parse_spec(info.spec), path, ref=info.ref)


def load_runtime(
    store: Store,
    info: ModelVersionInfo,
    *,
    prefer: str = "onnx",
    threads: int | None = None,
    memory_pattern: bool = True,
) -> Any:
    """ONNX Runtime when the version has an ONNX export (the serving path), else the native runtime.
    `threads` caps ONNX Runtime's intra-op threads (default: every usable core); `memory_pattern` is
    OnnxRuntime's."""
    from modelplane.serving.runtimes import OnnxRuntime

    if info.onnx_sha and (prefer == "onnx" or info.framework == ONNX_FRAMEWORK):
        path = store.artifacts.verified_path(info.onnx_sha)
        return OnnxRuntime(path, threads=threads, memory_pattern=memory_pattern)
    return framework(info.framework).native_runtime(load_native(store, info), parse_spec(info.spec))


def labels_to_model_indices(
    info: ModelVersionInfo, y: np.ndarray, data_classes: list[str] | None
) -> np.ndarray:
    """Map a dataset's class indices onto the model's class order (they differ when data versions grew)."""
    if info.task != "classification" or data_classes is None or info.classes is None:
        return y
    if list(data_classes) == list(info.classes):
        return y
    position = {name: i for i, name in enumerate(info.classes)}
    unknown = [c for c in data_classes if c not in position]
    mapping = np.array([position.get(c, -1) for c in data_classes], dtype=np.int64)
    mapped = mapping[np.asarray(y)]
    if (mapped < 0).any():
        raise Invalid(
            f"the data has classes {', '.join(unknown)} that {info.ref} never saw; evaluate on data "
            "with the model's classes or retrain"
        )
    return mapped

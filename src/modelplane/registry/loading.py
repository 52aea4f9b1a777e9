"""Turn a registered version back into something that predicts (verified bytes only)."""

from __future__ import annotations

from typing import Any

import numpy as np

from modelplane.errors import Invalid
from modelplane.registry.views import ModelVersionInfo
from modelplane.store import Store

SAFE_SKLEARN_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.")
# A version whose weights *are* its ONNX graph (e.g. int8-quantised): ONNX Runtime is its native runtime.
ONNX_FRAMEWORK = "onnx"


def load_native(store: Store, info: ModelVersionInfo) -> Any:
    """The torch module (weights from safetensors) or the sklearn pipeline (from skops)."""
    from modelplane.models.spec import parse_spec

    if info.framework == ONNX_FRAMEWORK:
        raise Invalid(
            f"{info.ref} exists only as an ONNX graph (compressed from {info.parent or 'another version'}) "
            "and has no torch or scikit-learn form; use it through ONNX Runtime (--runtime onnx) or load "
            "its parent"
        )
    spec = parse_spec(info.spec)
    path = store.artifacts.verified_path(info.weights_sha)
    if info.framework == "torch":
        from safetensors.torch import load_file

        from modelplane.models.torch_zoo import build_torch_model

        module = build_torch_model(spec)
        module.load_state_dict(load_file(str(path)))
        return module.eval()
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=path)
    unsafe = [t for t in untrusted if not t.startswith(SAFE_SKLEARN_PREFIXES)]
    if unsafe:
        raise Invalid(
            f"{info.ref} holds types that are not scikit-learn's ({', '.join(unsafe)}); refusing to load"
        )
    return sio.load(path, trusted=untrusted)


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
    from modelplane.runtimes.onnx_runtime import OnnxRuntime
    from modelplane.runtimes.sklearn_runtime import SklearnRuntime
    from modelplane.runtimes.torch_runtime import TorchRuntime

    if info.onnx_sha and (prefer == "onnx" or info.framework == ONNX_FRAMEWORK):
        path = store.artifacts.verified_path(info.onnx_sha)
        return OnnxRuntime(path, threads=threads, memory_pattern=memory_pattern)
    native = load_native(store, info)
    if info.framework == "torch":
        return TorchRuntime(native, task=info.task)
    return SklearnRuntime(native, task=info.task, input_shape=info.input_shape)


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

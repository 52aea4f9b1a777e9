"""Turn a registered version back into something that predicts (verified bytes only)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from modelplane.errors import Invalid, NotFound
from modelplane.registry.registry import add_artifact
from modelplane.registry.views import ModelVersionInfo
from modelplane.runtimes.adapters import ONNX_FORMAT, LoadOptions, default_runtime, get_adapter
from modelplane.runtimes.base import Runtime
from modelplane.runtimes.onnx_runtime import OnnxRuntime
from modelplane.runtimes.sklearn_runtime import SklearnRuntime
from modelplane.runtimes.torch_runtime import TorchRuntime
from modelplane.runtimes.torchscript_runtime import TORCHSCRIPT_FORMAT
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


class _StoredVersion:
    """A registered version as runtime adapters read it (modelplane.runtimes.adapters.StoredVersion)."""

    def __init__(self, store: Store, info: ModelVersionInfo) -> None:
        self._store = store
        self.info = info

    @property
    def ref(self) -> str:
        return self.info.ref

    @property
    def framework(self) -> str:
        return self.info.framework

    @property
    def task(self) -> str:
        return self.info.task

    @property
    def input_shape(self) -> list[int]:
        return self.info.input_shape

    def has_artifact(self, fmt: str) -> bool:
        return fmt in self.info.artifacts

    def artifact_path(self, fmt: str) -> Path:
        found = self.info.artifacts.get(fmt)
        if found is None:
            files = ", ".join(sorted(self.info.artifacts))
            raise NotFound(f"{self.ref} has no {fmt} file; its files are {files}")
        return self._store.artifacts.verified_path(found.sha256)

    def can_export(self, fmt: str) -> bool:
        return fmt == TORCHSCRIPT_FORMAT and self.framework == "torch"

    def export(self, fmt: str, path: Path) -> None:
        if not self.can_export(fmt):
            raise Invalid(f"{self.ref} is a {self.framework} model, which cannot be written as {fmt}")
        from modelplane.compression.export import export_torchscript

        native = load_native(self._store, self.info)
        export_torchscript(native, task=self.task, input_shape=self.input_shape, path=path)

    def native_runtime(self, options: LoadOptions) -> Runtime:
        if self.framework == ONNX_FRAMEWORK:
            path = self.artifact_path(ONNX_FORMAT)
            return OnnxRuntime(path, threads=options.threads, memory_pattern=options.memory_pattern)
        native = load_native(self._store, self.info)
        if self.framework == "torch":
            return TorchRuntime(native, task=self.task)
        return SklearnRuntime(native, task=self.task, input_shape=self.input_shape)


def ready_for(store: Store, info: ModelVersionInfo, runtime: str) -> ModelVersionInfo:
    """`info` once `runtime` can load it: the file it loads is made and stored the first time (a TorchScript
    trace), so a restart loads it rather than makes it again. `Invalid`, naming the fix, where the runtime
    cannot serve the version."""
    adapter = get_adapter(runtime)
    version = _StoredVersion(store, info)
    refusal = adapter.refusal(version)
    if refusal:
        raise Invalid(refusal)
    if adapter.artifact is None or version.has_artifact(adapter.artifact):
        return info
    with tempfile.TemporaryDirectory(dir=store.artifacts.tmp_dir) as scratch:
        path = Path(scratch) / f"{info.model}-v{info.version}.{adapter.artifact}"
        adapter.make_artifact(version, path)
        return add_artifact(store, info, adapter.artifact, path)


def load_runtime(
    store: Store,
    info: ModelVersionInfo,
    runtime: str | None = None,
    *,
    threads: int | None = None,
    memory_pattern: bool = True,
) -> Runtime:
    """`info` behind the runtime named (modelplane.runtimes.adapters.ADAPTERS); None: ONNX Runtime where the
    version has an ONNX graph (the serving path), else its native runtime. `threads` caps ONNX Runtime's
    intra-op threads (default: every usable core); `memory_pattern` is OnnxRuntime's."""
    name = runtime or default_runtime(info.artifacts)
    info = ready_for(store, info, name)
    return get_adapter(name).load(_StoredVersion(store, info), LoadOptions(threads, memory_pattern))


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

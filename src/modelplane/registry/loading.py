"""Turn a registered version back into something that predicts: signed manifest checked, verified
(and, where sealed, decrypted in memory) bytes only (registry/integrity.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from modelplane.errors import Invalid
from modelplane.models.frameworks import TORCHSCRIPT, framework, is_trainable, parse_spec
from modelplane.registry.artifacts import stored_file
from modelplane.registry.integrity import version_bytes, version_file
from modelplane.registry.registry import add_artifact
from modelplane.registry.tables import preprocessor_of
from modelplane.registry.views import ModelVersionInfo, weights_format
from modelplane.runtimes.adapters import ONNX_FORMAT, LoadOptions, default_runtime, get_adapter
from modelplane.runtimes.base import Runtime
from modelplane.runtimes.onnx_runtime import OnnxRuntime
from modelplane.runtimes.torchscript_runtime import TORCHSCRIPT_FORMAT
from modelplane.store import Store


def load_native(store: Store, info: ModelVersionInfo) -> Any:
    """The model in its own framework (a torch module, a scikit-learn pipeline...) from verified weights."""
    if not is_trainable(info.framework) and "imported" in info.params:
        raise Invalid(
            f"{info.ref} was imported as an ONNX graph and has no torch or scikit-learn form; use it through "
            "ONNX Runtime (--runtime onnxruntime)"
        )
    if not is_trainable(info.framework):
        raise Invalid(
            f"{info.ref} exists only as an ONNX graph (compressed from {info.parent or 'another version'}) "
            "and has no torch or scikit-learn form; use it through ONNX Runtime (--runtime onnx) or load "
            "its parent"
        )
    fmt = weights_format(info.framework)
    with version_file(store, info, fmt) as path:
        return framework(info.framework).load_weights(parse_spec(info.spec), path, ref=info.ref)


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

    def artifact_bytes(self, fmt: str) -> bytes:
        return version_bytes(self._store, self.info, fmt)

    def artifact_path(self, fmt: str) -> Path:
        found = self.info.artifacts.get(fmt)
        if found is not None and stored_file(self._store, found.sha256).key_id is not None:
            raise Invalid(
                f"{self.ref}'s {fmt} file is encrypted at rest, and this runtime reads files by path, which "
                "would put its plaintext on disk; the runtime must read artifact_bytes"
            )
        with version_file(self._store, self.info, fmt) as path:  # the plaintext blob's own path
            return path

    def can_export(self, fmt: str) -> bool:
        return (
            fmt == TORCHSCRIPT_FORMAT
            and is_trainable(self.framework)
            and TORCHSCRIPT in framework(self.framework).capabilities
        )

    def export(self, fmt: str, path: Path) -> None:
        if not self.can_export(fmt):
            raise Invalid(f"{self.ref} is a {self.framework} model, which cannot be written as {fmt}")
        native = load_native(self._store, self.info)
        framework(self.framework).export_torchscript(native, parse_spec(self.info.spec), path)

    def native_runtime(self, options: LoadOptions) -> Runtime:
        if not is_trainable(self.framework):  # an int8 graph is its own weights
            graph = self.artifact_bytes(ONNX_FORMAT)
            return OnnxRuntime(graph, threads=options.threads, memory_pattern=options.memory_pattern)
        adapter = framework(self.framework)
        return adapter.native_runtime(load_native(self._store, self.info), parse_spec(self.info.spec))


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
    preprocessing: bool = True,
) -> Runtime:
    """`info` behind the runtime named (modelplane.runtimes.adapters.ADAPTERS); None: ONNX Runtime where the
    version has an ONNX graph (the serving path), else its native runtime. `threads` caps ONNX Runtime's
    intra-op threads (default: every usable core); `memory_pattern` is OnnxRuntime's. A version fitted on a
    table takes raw rows through its preprocessing; `preprocessing=False` gives the bare model, which reads
    the features the preprocessing makes (what compression and retraining compare on)."""
    name = runtime or default_runtime(info.artifacts)
    info = ready_for(store, info, name)
    adapter, stored = get_adapter(name), _StoredVersion(store, info)
    prep = preprocessor_of(store, info) if preprocessing else None
    if prep is None:
        return adapter.load(stored, LoadOptions(threads, memory_pattern))
    from modelplane.runtimes.table_runtime import PreparedRuntime, merged_runtime

    if adapter.artifact == ONNX_FORMAT:  # one graph: preprocessing and model in one session call
        import onnx

        graph = onnx.load_model_from_string(stored.artifact_bytes(ONNX_FORMAT))
        return merged_runtime(prep, graph, threads=threads, memory_pattern=memory_pattern)
    return PreparedRuntime(prep, adapter.load(stored, LoadOptions(threads, memory_pattern)), threads=threads)


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

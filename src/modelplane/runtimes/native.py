"""The native runtime: a version's own weights in its own framework (torch, scikit-learn), no export.

A version whose weights *are* an ONNX graph (int8-quantised) has ONNX Runtime as its native runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from modelplane.errors import Invalid
from modelplane.runtimes.adapters import LoadOptions, StoredVersion
from modelplane.runtimes.contract import Runtime


def _torch(version: StoredVersion, options: LoadOptions) -> Runtime:
    from modelplane.runtimes.torch_runtime import TorchRuntime

    return TorchRuntime(version.native(), task=version.task)


def _sklearn(version: StoredVersion, options: LoadOptions) -> Runtime:
    from modelplane.runtimes.sklearn_runtime import SklearnRuntime

    return SklearnRuntime(version.native(), task=version.task, input_shape=version.input_shape)


def _onnx(version: StoredVersion, options: LoadOptions) -> Runtime:
    from modelplane.runtimes.onnx_runtime import ADAPTER

    return ADAPTER.load(version, options)


# framework -> how its weights become a Runtime
_BY_FRAMEWORK: dict[str, Callable[[StoredVersion, LoadOptions], Runtime]] = {
    "torch": _torch,
    "sklearn": _sklearn,
    "onnx": _onnx,  # versions whose weights are their ONNX graph
}


class NativeAdapter:
    artifact = None

    def refusal(self, version: StoredVersion) -> str | None:
        if version.framework in _BY_FRAMEWORK:
            return None
        return f"{version.ref} is a {version.framework} model, which has no native runtime here"

    def make_artifact(self, version: StoredVersion, path: Path) -> None:
        raise Invalid("the native runtime loads a version's own weights; it has no artifact to make")

    def load(self, version: StoredVersion, options: LoadOptions) -> Runtime:
        refusal = self.refusal(version)
        if refusal:
            raise Invalid(refusal)
        return _BY_FRAMEWORK[version.framework](version, options)


ADAPTER = NativeAdapter()

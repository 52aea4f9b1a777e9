"""The native runtime: a version served by its own framework (torch, scikit-learn), from its weights.

Which runtime that is belongs to the framework, so the registry answers it (StoredVersion.native_runtime);
a version whose weights *are* an ONNX graph (int8-quantised) has ONNX Runtime as its native runtime.
"""

from __future__ import annotations

from pathlib import Path

from modelplane.errors import Invalid
from modelplane.runtimes.adapters import LoadOptions, StoredVersion
from modelplane.runtimes.base import Runtime


class NativeAdapter:
    artifact = None

    def refusal(self, version: StoredVersion) -> str | None:
        return None

    def make_artifact(self, version: StoredVersion, path: Path) -> None:
        raise Invalid("the native runtime loads a version's own weights; it has no file to make")

    def load(self, version: StoredVersion, options: LoadOptions) -> Runtime:
        return version.native_runtime(options)


ADAPTER = NativeAdapter()

"""The runtimes a deployment can choose, by name. Adding one is its module plus one line in ADAPTERS.

An adapter says which artifact of a version its runtime loads (or that it loads the native weights), why
it cannot serve a version, how to make that artifact once when a version lacks it, and how to build the
Runtime. It is imported only when a version is loaded with it, so listing deployments never imports torch
(this module imports nothing heavy: the CLI reads it when it starts).
"""

from __future__ import annotations

import importlib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from modelplane.errors import Invalid

if TYPE_CHECKING:
    from modelplane.runtimes.base import Runtime

ONNX_FORMAT = "onnx"


@dataclass(frozen=True)
class LoadOptions:
    """`threads` caps ONNX Runtime's intra-op threads (None: every usable core); `memory_pattern` is
    OnnxRuntime's (off for batch prediction, whose last chunk has another size)."""

    threads: int | None = None
    memory_pattern: bool = True


class StoredVersion(Protocol):
    """What an adapter reads of a registered version. The registry supplies it (registry/loading.py) and
    answers what depends on the version's framework, so this package stays below the registry and knows
    no framework by name."""

    @property
    def ref(self) -> str: ...

    @property
    def framework(self) -> str: ...

    @property
    def task(self) -> str: ...

    @property
    def input_shape(self) -> list[int]: ...

    def has_artifact(self, fmt: str) -> bool: ...

    def artifact_bytes(self, fmt: str) -> bytes:
        """The verified bytes of the version's `fmt` artifact (decrypted in memory where it is encrypted at
        rest): what runtimes load."""
        ...

    def artifact_path(self, fmt: str) -> Path:
        """The verified file of the version's `fmt` artifact, for a runtime that can read only a path;
        refused (`Invalid`) where the artifact is encrypted at rest."""
        ...

    def can_export(self, fmt: str) -> bool:
        """Whether the version's framework can write it as `fmt` (e.g. "torchscript") from its weights."""
        ...

    def export(self, fmt: str, path: Path) -> None:
        """Write the version as `fmt` to `path`, from its native weights."""
        ...

    def native_runtime(self, options: LoadOptions) -> Runtime:
        """The version served by its own framework (an int8 version's graph: ONNX Runtime)."""
        ...


class RuntimeAdapter(Protocol):
    # The artifact format the runtime loads ("onnx", "torchscript"); None: the version's native weights.
    artifact: str | None

    def refusal(self, version: StoredVersion) -> str | None:
        """Why this runtime cannot serve `version`, naming the fix; None when it can. Asked when a
        deployment is saved, so a bad choice fails then rather than when a server loads it."""
        ...

    def make_artifact(self, version: StoredVersion, path: Path) -> None:
        """Write the artifact to `path` for a version that has none yet; the registry stores it, so this
        runs once per version. Raises `Invalid` where it cannot be made."""
        ...

    def load(self, version: StoredVersion, options: LoadOptions) -> Runtime: ...


# name -> "module:attribute" of its RuntimeAdapter.
ADAPTERS: dict[str, str] = {
    "onnxruntime": "modelplane.runtimes.onnx_runtime:ADAPTER",
    "torchscript": "modelplane.runtimes.torchscript_runtime:ADAPTER",
    "native": "modelplane.runtimes.native:ADAPTER",
}


def check_runtime(name: str) -> str:
    if name not in ADAPTERS:
        raise Invalid(f"unknown runtime {name!r}; the runtimes are {', '.join(sorted(ADAPTERS))}")
    return name


def get_adapter(name: str) -> RuntimeAdapter:
    module, _, attribute = ADAPTERS[check_runtime(name)].partition(":")
    adapter: RuntimeAdapter = getattr(importlib.import_module(module), attribute)
    return adapter


def default_runtime(artifact_formats: Collection[str]) -> str:
    """What serves a version when the deployment does not say: its ONNX graph where it has one."""
    return "onnxruntime" if ONNX_FORMAT in artifact_formats else "native"

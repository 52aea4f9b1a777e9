"""A version's files as rows (format -> content-addressed artifact), not columns: a runtime that loads a
new format (TorchScript) needs no migration."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.orm import Session

from modelplane.errors import Invalid
from modelplane.registry.views import weights_format
from modelplane.runtimes.adapters import ONNX_FORMAT
from modelplane.store import Store
from modelplane.store.orm import Artifact, ModelVersion, ModelVersionArtifact


def store_files(
    store: Store, framework: str, weights: Path, onnx: Path | None, more: Mapping[str, Path] | None = None
) -> dict[str, str]:
    """Copy a new version's files into the artifact store; format -> sha256."""
    shas = {weights_format(framework): store.artifacts.put_file(weights)}  # Invalid for an unknown one
    for fmt, path in (more or {}).items():
        shas[fmt] = store.artifacts.put_file(path)
    if onnx is not None:
        onnx_sha = store.artifacts.put_file(onnx)
        if shas.setdefault(ONNX_FORMAT, onnx_sha) != onnx_sha:
            raise Invalid("an ONNX version's weights are its ONNX graph; give the same file for both")
    return shas


def attach(session: Session, store: Store, version: ModelVersion, fmt: str, sha: str) -> None:
    """Point `version` at the stored blob `sha` as its `fmt` file (the blob's row added if new)."""
    size = store.artifacts.path_for(sha).stat().st_size
    if session.get(Artifact, sha) is None:
        session.add(Artifact(sha256=sha, size=size))
    session.add(ModelVersionArtifact(version_id=version.id, format=fmt, sha256=sha, size=size))

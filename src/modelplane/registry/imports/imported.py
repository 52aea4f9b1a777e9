"""What every format's import hands back: the parts a registered version is made of."""

from __future__ import annotations

import hashlib
import mmap
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelplane.registry.views import ONNX_FRAMEWORK

IMPORTED_KIND = "imported"  # the kind of a version whose weights are an ONNX graph made elsewhere


@dataclass
class Imported:
    framework: str
    kind: str
    task: str
    input_shape: list[int]
    num_outputs: int
    weights_path: Path
    lineage: dict[str, Any]  # params["imported"]: format, file, sha256, signature, what it was checked on
    onnx_path: Path | None = None
    onnx_note: str | None = None
    classes: list[str] | None = None
    files: dict[str, Path] = field(default_factory=dict)  # more artifacts by format (the source file)
    spec_data: dict[str, Any] | None = None  # a modelplane spec (torch weights); else made from the above
    scratch: bool = False  # weights_path/onnx_path were written by the import into its scratch folder

    def spec(self) -> dict[str, Any]:
        if self.spec_data is not None:
            return self.spec_data
        return {
            "kind": self.kind,
            "task": self.task,
            "input_shape": self.input_shape,
            "num_outputs": self.num_outputs,
        }


def file_sha256(path: Path) -> str:
    """A file's sha256 from a map of it: one hashing call, which releases the GIL throughout (so it can
    run beside the import's graph work) and copies nothing."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        if os.fstat(fh.fileno()).st_size:
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                digest.update(mapped)
    return digest.hexdigest()


def lineage(fmt: str, source: Path, *, sha256: str | None = None, **more: Any) -> dict[str, Any]:
    """`imported` lineage of a file: its format, name, size and sha256 (what `models show` prints);
    `sha256`: the file's, already computed."""
    if sha256 is not None and source.is_file():
        return {"format": fmt, "file": source.name, "sha256": sha256, "size": source.stat().st_size, **more}
    digest, size = hashlib.sha256(), 0
    files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
    for path in files:
        with path.open("rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
                size += len(block)
    return {"format": fmt, "file": source.name, "sha256": digest.hexdigest(), "size": size, **more}


def onnx_version(
    graph: Any,
    fmt: str,
    source: Path,
    *,
    files: dict[str, Path] | None = None,
    sha256: str | None = None,
    **more: Any,
) -> Imported:
    """An ONNX-only version around a contract graph (onnx_file.Graph); `sha256`: the source file's."""
    return Imported(
        framework=ONNX_FRAMEWORK,
        kind=IMPORTED_KIND,
        task=graph.task,
        input_shape=graph.input_shape,
        num_outputs=graph.num_outputs,
        weights_path=graph.path,  # an ONNX-only version's weights are its graph: stored once
        scratch=True,  # the contract graph is the import's own file: linked into the store, not copied
        classes=graph.classes,
        files=files or {},
        lineage=lineage(
            fmt,
            source,
            sha256=sha256,
            signature=graph.signature,
            verified_on=graph.verified_on,
            notes=graph.notes,
            **more,
        ),
    )

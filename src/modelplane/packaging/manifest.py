"""`modelplane-package.json`: what a package serves and the sha256 of every file `serve --from` reads.

The manifest is the package's contract: a reader refuses a format it does not know, and a file whose
bytes do not hash to what the manifest says (edited, truncated, swapped) before anything is served."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from modelplane.errors import IntegrityError, Invalid, NotFound

MANIFEST = "modelplane-package.json"
FORMAT_VERSION = 1
_BLOCK = 1 << 20


class PackagedFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str  # relative to the package directory, '/'-separated
    sha256: str
    size: int


class PackagedVersion(BaseModel):
    """A version's registry record (what serving reads: task, classes, spec with its input shape,
    preprocessing among its files) and its files by format, in plaintext."""

    model_config = ConfigDict(extra="forbid")
    model: str
    version: int
    task: str
    framework: str
    kind: str
    spec: dict[str, Any]
    params: dict[str, Any]
    metrics: dict[str, Any]
    classes: list[str] | None
    onnx_note: str | None
    dataset: str | None  # lineage, for the reader: the package does not carry the dataset
    files: dict[str, PackagedFile]

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"


class PackageManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format_version: int
    deployment: str
    spec: dict[str, Any]  # refs resolved to exact versions when packaged
    spec_as_deployed: dict[str, Any]  # the spec as saved (aliases), for the reader
    generation: int
    created_at: str
    modelplane_version: str
    image: str
    needs_torch: bool
    versions: list[PackagedVersion]

    def files(self) -> list[PackagedFile]:
        return [found for version in self.versions for found in version.files.values()]


@dataclass(frozen=True)
class PackageInfo:
    """What `package` wrote: where, the image its manifests name, and the exact versions inside."""

    directory: Path
    deployment: str
    image: str
    versions: list[str]
    files: int
    bytes: int
    needs_torch: bool

    @classmethod
    def of(cls, directory: Path, manifest: PackageManifest) -> PackageInfo:
        files = manifest.files()
        return cls(
            directory=directory,
            deployment=manifest.deployment,
            image=manifest.image,
            versions=[v.ref for v in manifest.versions],
            files=len(files),
            bytes=sum(f.size for f in files),
            needs_torch=manifest.needs_torch,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "deployment": self.deployment,
            "image": self.image,
            "versions": self.versions,
            "files": self.files,
            "bytes": self.bytes,
            "needs_torch": self.needs_torch,
        }


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(directory: Path, manifest: PackageManifest) -> Path:
    path = directory / MANIFEST
    path.write_text(json.dumps(manifest.model_dump(mode="json"), indent=2, sort_keys=True) + "\n")
    return path


def read_manifest(directory: Path) -> PackageManifest:
    """The manifest of the package in `directory`, checked for shape and format version (not the files)."""
    path = directory / MANIFEST
    if not path.is_file():
        raise NotFound(
            f"{directory} is not a modelplane package (no {MANIFEST}); make one with "
            "`modelplane package DEPLOYMENT -o DIR`"
        )
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Invalid(f"{path} is not valid JSON ({exc}); make the package again") from None
    if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
        found = data.get("format_version") if isinstance(data, dict) else None
        raise Invalid(
            f"{path} has package format {found!r}; this modelplane reads format {FORMAT_VERSION} "
            "(make the package again with this version)"
        )
    try:
        return PackageManifest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise Invalid(f"{path} is not a valid package manifest ({where}: {first['msg']})") from None


def verify_files(directory: Path, manifest: PackageManifest) -> None:
    """Every file the manifest names is inside `directory` and hashes to its sha256; `IntegrityError`
    naming the first that does not."""
    root = directory.resolve()
    for found in manifest.files():
        path = (root / found.path).resolve()
        if not path.is_relative_to(root):
            raise IntegrityError(f"package file {found.path!r} points outside the package; refusing it")
        if not path.is_file():
            raise IntegrityError(f"package file {found.path} is missing; the package is incomplete")
        actual = sha256_of(path)
        if actual != found.sha256:
            raise IntegrityError(
                f"package file {found.path} hashes to {actual[:12]}, not {found.sha256[:12]} as "
                f"{MANIFEST} says: it was changed after packaging; refusing to serve it"
            )

"""A version's files as rows (format -> content-addressed artifact), not columns: a runtime that loads a
new format (TorchScript) needs no migration.

With a master key configured (security/master_key.py) a new file is written sealed (security/envelope.py):
only ciphertext reaches the store, and reading decrypts into memory. An artifact's identity stays the
sha256 of its plaintext either way (what versions and their signed manifests name, what deduplicates);
the sealed blob is stored under the sha256 of its own bytes. A file already stored in plaintext (written
before encryption was turned on) is shared as it is, and stays readable.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from modelplane.errors import IntegrityError, Invalid, Misconfigured
from modelplane.registry.views import weights_format
from modelplane.runtimes.adapters import ONNX_FORMAT
from modelplane.security.envelope import new_data_key, seal, unseal, unwrap, wrap
from modelplane.security.master_key import MASTER_KEY_FILE_ENV, configured_master_key, missing_key_message
from modelplane.store import Store
from modelplane.store.orm import Artifact, ModelVersion, ModelVersionArtifact

_BLOCK = 1 << 20
Source = Path | bytes  # a file to store, or its bytes


@dataclass(frozen=True)
class StoredFile:
    """An artifact as its row records it; `key_id` is None for a plaintext one."""

    sha256: str
    size: int
    key_id: str | None = None
    wrapped_key: str | None = None
    blob: str | None = None

    @classmethod
    def of(cls, row: Artifact) -> StoredFile:
        return cls(row.sha256, row.size, row.key_id, row.wrapped_key, row.blob)


def store_files(
    store: Store,
    framework: str,
    weights: Path,
    onnx: Path | None,
    more: Mapping[str, Source] | None = None,
    *,
    scratch: bool = False,
) -> dict[str, StoredFile]:
    """Copy a new version's files into the artifact store; format -> stored file. `scratch`: weights and
    onnx are the caller's own files under the store's tmp dir, linked in rather than copied."""
    files = {weights_format(framework): put(store, weights, adopt=scratch)}  # Invalid for an unknown one
    for fmt, source in (more or {}).items():
        files[fmt] = put(store, source)
    if onnx is not None:
        graph = put(store, onnx, adopt=scratch)
        if files.setdefault(ONNX_FORMAT, graph).sha256 != graph.sha256:
            raise Invalid("an ONNX version's weights are its ONNX graph; give the same file for both")
    return files


def _chunks(source: Source) -> Iterator[bytes]:
    if isinstance(source, bytes):
        yield source
        return
    with Path(source).open("rb") as fh:
        while block := fh.read(_BLOCK):
            yield block


def put(store: Store, source: Source, *, adopt: bool = False) -> StoredFile:
    """Store `source` (sealed where a master key is configured) unless its content is stored already.
    `adopt`: a plaintext `source` file is the caller's scratch, hard-linked into the store (no copy)."""
    digest, size = hashlib.sha256(), 0
    for block in _chunks(source):
        digest.update(block)
        size += len(block)
    sha = digest.hexdigest()
    with store.db.session() as session:
        known = session.get(Artifact, sha)
        if known is not None and store.artifacts.touch(known.blob or sha):  # reused: fresh for gc
            return StoredFile.of(known)
    master = configured_master_key(store.settings)
    if master is None:
        if isinstance(source, bytes):
            store.artifacts.put_bytes(source)
        elif adopt:
            store.artifacts.adopt(source, sha)
        else:
            store.artifacts.put_file(source)
        return StoredFile(sha, size)
    data_key = new_data_key()
    with store.artifacts.writer() as writer:
        for piece in seal(data_key, sha, _chunks(source)):
            writer.write(piece)
        blob = writer.commit()
    return StoredFile(sha, size, master.key_id, wrap(master, sha, data_key), blob)


def attach(session: Session, version: ModelVersion, fmt: str, stored: StoredFile) -> None:
    """Point `version` at the stored artifact as its `fmt` file (the artifact's row added if new)."""
    if session.get(Artifact, stored.sha256) is None:
        session.add(
            Artifact(
                sha256=stored.sha256,
                size=stored.size,
                key_id=stored.key_id,
                wrapped_key=stored.wrapped_key,
                blob=stored.blob,
            )
        )
    session.add(
        ModelVersionArtifact(version_id=version.id, format=fmt, sha256=stored.sha256, size=stored.size)
    )


def stored_file(store: Store, sha: str) -> StoredFile:
    with store.db.session() as session:
        row = session.get(Artifact, sha)
        return StoredFile.of(row) if row is not None else StoredFile(sha, 0)


def unsealed(store: Store, stored: StoredFile) -> bytes:
    """The plaintext of a sealed artifact, authenticated and checked against its sha256."""
    sha, key_id = stored.sha256, stored.key_id
    assert key_id is not None and stored.wrapped_key is not None and stored.blob is not None
    master = configured_master_key(store.settings)
    if master is None:
        raise Misconfigured(missing_key_message(f"artifact {sha[:12]}", key_id))
    if master.key_id != key_id:
        raise Misconfigured(
            f"artifact {sha[:12]} is encrypted with master key {key_id}, but the configured master key is "
            f"{master.key_id}; configure key {key_id} (after `modelplane keys rotate-master`, point "
            f"{MASTER_KEY_FILE_ENV} at the new key's file)"
        )
    data = unseal(unwrap(master, sha, stored.wrapped_key), sha, store.artifacts.read_raw(stored.blob))
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha:
        raise IntegrityError(
            f"artifact {sha[:12]} decrypts to bytes that hash to {actual[:12]}; restore it from a backup"
        )
    return data


def read_artifact(store: Store, sha: str) -> bytes:
    """The artifact's plaintext, verified: hashed (plaintext blob) or authenticated and hashed (sealed)."""
    stored = stored_file(store, sha)
    return store.artifacts.read_bytes(sha) if stored.key_id is None else unsealed(store, stored)


def verified_source(store: Store, sha: str) -> Path | bytes:
    """The artifact's verified plaintext for a reader that wants a path: the blob's own path when it is
    plaintext; when sealed, its decrypted bytes (hand them to `memory_file`)."""
    stored = stored_file(store, sha)
    return store.artifacts.verified_path(sha) if stored.key_id is None else unsealed(store, stored)


@contextmanager
def memory_file(data: bytes, fallback_dir: Path) -> Iterator[Path]:
    """`data` behind a path that is never on disk: a Linux memfd opened through /proc/self/fd. Elsewhere
    (no memfd) a 0600 temp file under `fallback_dir`, removed when the block ends."""
    if sys.platform.startswith("linux") and hasattr(os, "memfd_create"):
        fd = os.memfd_create("modelplane-artifact", os.MFD_CLOEXEC)
        try:
            _write_all(fd, data)
            yield Path(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        return
    fd, name = tempfile.mkstemp(dir=fallback_dir, prefix="plain-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]

"""Content-addressed blobs: written to a temp file, fsynced, hashed, renamed; verified on read."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from modelplane.errors import IntegrityError, NotFound
from modelplane.store.durable import fsync_path

_BLOCK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


class ArtifactWriter:
    """Streams bytes into the store; the blob only appears under its hash once `commit` succeeds."""

    def __init__(self, store: ArtifactStore) -> None:
        self._store = store
        self._digest = hashlib.sha256()
        fd, name = tempfile.mkstemp(dir=store.tmp_dir, prefix="write-")
        self._tmp = Path(name)
        self._fh: BinaryIO = os.fdopen(fd, "wb")
        self.size = 0
        self.sha256: str | None = None

    def write(self, data: bytes | memoryview) -> None:
        self._fh.write(data)
        self._digest.update(data)
        self.size += len(data)

    def commit(self) -> str:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        sha = self._digest.hexdigest()
        final = self._store.path_for(sha)
        final.parent.mkdir(parents=True, exist_ok=True)
        if self._store.touch(sha):  # stored already: fresh again, so gc's grace period covers this write
            self._tmp.unlink()
        else:
            os.replace(self._tmp, final)
            fsync_path(final.parent)
        self.sha256 = sha
        return sha

    def abort(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> ArtifactWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None or self.sha256 is None:
            self.abort()


class ArtifactStore:
    """Blobs under root/ab/cdef... named by their sha256."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.tmp_dir = self.root / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    def path_for(self, sha: str) -> Path:
        return self.root / sha[:2] / sha[2:]

    def writer(self) -> ArtifactWriter:
        return ArtifactWriter(self)

    def put_bytes(self, data: bytes) -> str:
        with self.writer() as writer:
            writer.write(data)
            return writer.commit()

    def put_file(self, path: Path) -> str:
        with self.writer() as writer, Path(path).open("rb") as fh:
            while block := fh.read(_BLOCK):
                writer.write(block)
            return writer.commit()

    def adopt(self, path: Path, sha: str) -> str:
        """Store the file at `path`, whose bytes the caller just hashed to `sha`, by hard-linking it in: for
        a scratch file under `tmp_dir` that nothing writes to again (a copy where a link cannot be made)."""
        if self.touch(sha):
            return sha
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)  # durable before its name says it is stored
        finally:
            os.close(fd)
        final = self.path_for(sha)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, final)
        except FileExistsError:
            self.touch(sha)
            return sha
        except OSError:  # another filesystem, or links not allowed: copy it as any other file
            return self.put_file(path)
        fsync_path(final.parent)
        return sha

    def exists(self, sha: str) -> bool:
        return self.path_for(sha).is_file()

    def touch(self, sha: str) -> bool:
        """Mark a blob a writer is about to reuse as just written (its mtime: see registry/gc.py); False
        where it is not there (never stored, or gc took it), so the writer stores it again."""
        try:
            os.utime(self.path_for(sha))
        except FileNotFoundError:
            return False
        return True

    def _existing(self, sha: str) -> Path:
        path = self.path_for(sha)
        if not path.is_file():
            raise NotFound(f"artifact {sha[:12]} is missing from {self.root}; the store was moved or pruned")
        return path

    def _check(self, sha: str, actual: str, path: Path) -> None:
        if actual != sha:
            raise IntegrityError(
                f"artifact {sha[:12]} at {path} is corrupt (its bytes hash to {actual[:12]}); "
                "restore it from a backup or re-create the version"
            )

    def verified_path(self, sha: str) -> Path:
        """The blob's path after checking its bytes still hash to `sha`; a mismatch is an error."""
        path = self._existing(sha)
        self._check(sha, sha256_file(path), path)
        return path

    def read_bytes(self, sha: str) -> bytes:
        path = self._existing(sha)
        data = path.read_bytes()
        self._check(sha, hashlib.sha256(data).hexdigest(), path)
        return data

    def read_raw(self, sha: str) -> bytes:
        """The blob's bytes unhashed: for a sealed blob, which AES-GCM authenticates as it decrypts (and
        whose plaintext is then checked against its own sha256)."""
        return self._existing(sha).read_bytes()

    def copy_to(self, sha: str, dest: Path) -> Path:
        shutil.copyfile(self.verified_path(sha), dest)
        return dest

"""Resumable chunked uploads: how a dataset file reaches a remote platform.

A client declares the file (name, size, sha256, chunk size), sends chunks in any order (several at once if
it likes), each with its own sha256, and completes. A checked chunk is written at its offset into one file
of the declared size and fsynced; only then does its `<index>.ok` marker appear, so a half-received chunk
is never mistaken for a good one; a client that lost its connection asks which chunks arrived and sends the
rest. Declaring the same file again resumes the open upload. The whole file's sha256 is checked at
completion, then the file is linked into place: the chunks are never copied into a second file. That
hash is mostly done by then: each chunk that extends the received prefix is hashed on arrival (from the
bytes just checked, or re-read from the file where it came early), so completing an upload this process
saw arrive reads nothing again; after a restart it hashes the file. A `.zip`
(an image folder) is then unpacked with guards against paths that escape the folder and against archives
that inflate past the size limit.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import uuid
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from modelplane.errors import Conflict, Invalid, NotFound, PayloadTooLarge

UPLOAD_PREFIX = "upload:"
_ID = re.compile(r"^[0-9a-f]{32}$")
_SHA = re.compile(r"^[0-9a-f]{64}$")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")
MIN_CHUNK = 1 << 16
MAX_CHUNK = 64 << 20
_PART = "part"  # the file the chunks are written into, at their offsets
_DONE = ".ok"  # `<index>.ok`: chunk `index` is in `part`, checked and fsynced
_BLOCK = 1 << 20


@dataclass(frozen=True)
class UploadInfo:
    id: str
    filename: str
    size: int
    sha256: str
    chunk_size: int
    chunks: int
    received: list[int]
    complete: bool
    owner: str

    @property
    def missing(self) -> list[int]:
        have = set(self.received)
        return [i for i in range(self.chunks) if i not in have]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "missing": self.missing}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_at(path: Path, size: int, offset: int, data: bytes) -> None:
    """`data` at `offset` of the `size`-byte file at `path` (made, sparse, by the first chunk), fsynced."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_size != size:
            os.ftruncate(fd, size)
        view = memoryview(data)
        while view:
            view = view[os.pwrite(fd, view, offset + len(data) - len(view)) :]
        os.fsync(fd)
    finally:
        os.close(fd)


class Uploads:
    """Upload state lives in files under `root/<id>/`: `meta.json`, the file being filled (`part`) with an
    `<index>.ok` marker per chunk it holds, then `data/<name>`."""

    def __init__(self, root: Path, *, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        root.mkdir(parents=True, exist_ok=True)
        # upload id -> (sha256 of chunks 0..n-1 as they lie in `part`, n); this process's view only
        self._prefix: dict[str, tuple[Any, int]] = {}
        self._prefix_lock = threading.Lock()

    def _dir(self, upload_id: str) -> Path:
        if not _ID.match(upload_id):
            raise NotFound(f"upload {upload_id!r} does not exist; start one with POST /api/v1/uploads")
        folder = self.root / upload_id
        if not (folder / "meta.json").is_file():
            raise NotFound(f"upload {upload_id!r} does not exist; start one with POST /api/v1/uploads")
        return folder

    def _meta(self, folder: Path) -> dict[str, Any]:
        return dict(json.loads((folder / "meta.json").read_text()))

    def _info(self, folder: Path) -> UploadInfo:
        meta = self._meta(folder)
        received = sorted(int(p.stem) for p in folder.glob("*" + _DONE))
        return UploadInfo(
            id=folder.name,
            filename=meta["filename"],
            size=meta["size"],
            sha256=meta["sha256"],
            chunk_size=meta["chunk_size"],
            chunks=meta["chunks"],
            received=received,
            complete=(folder / "data").is_dir(),
            owner=meta["owner"],
        )

    def create(self, filename: str, size: int, sha256: str, chunk_size: int, *, owner: str) -> UploadInfo:
        """Start an upload, or resume the open one of the same file by the same owner."""
        name = _SAFE_NAME.sub("_", Path(filename).name).lstrip(".")
        if not name:
            raise Invalid(f"filename {filename!r} has no usable name; send the file's base name")
        if size < 1:
            raise Invalid("size must be at least 1 byte; an empty file holds no dataset")
        if size > self.max_bytes:
            raise PayloadTooLarge(
                f"the file is {size} bytes, over this server's {self.max_bytes}-byte upload limit"
            )
        if not _SHA.match(sha256):
            raise Invalid("sha256 must be the file's 64-character lowercase hex SHA-256")
        if not MIN_CHUNK <= chunk_size <= MAX_CHUNK:
            raise Invalid(f"chunk_size must be between {MIN_CHUNK} and {MAX_CHUNK} bytes")
        for folder in self.root.iterdir():
            if (folder / "meta.json").is_file() and not (folder / "data").is_dir():
                meta = self._meta(folder)
                same = (meta["sha256"], meta["size"], meta["owner"], meta["filename"])
                if same == (sha256, size, owner, name):
                    return self._info(folder)
        folder = self.root / uuid.uuid4().hex
        folder.mkdir()
        meta = {
            "filename": name,
            "size": size,
            "sha256": sha256,
            "chunk_size": chunk_size,
            "chunks": -(-size // chunk_size),
            "owner": owner,
        }
        _write_atomically(folder / "meta.json", json.dumps(meta).encode())
        return self._info(folder)

    def get(self, upload_id: str) -> UploadInfo:
        return self._info(self._dir(upload_id))

    def put_chunk(self, upload_id: str, index: int, data: bytes, sha256: str) -> UploadInfo:
        """Store one chunk after checking its length and hash; a concurrent upload of it is refused."""
        folder = self._dir(upload_id)
        info = self._info(folder)
        if info.complete:
            raise Conflict(f"upload {upload_id} is already complete; start a new one to change the file")
        if not 0 <= index < info.chunks:
            raise Invalid(f"chunk index {index} is out of range; this upload has chunks 0..{info.chunks - 1}")
        expected = min(info.chunk_size, info.size - index * info.chunk_size)
        if len(data) != expected:
            raise Invalid(f"chunk {index} must be {expected} bytes, got {len(data)}")
        if _sha256(data) != sha256.lower():
            raise Invalid(f"chunk {index} does not match its sha256 (corrupted in transit?); send it again")
        done = folder / f"{index}{_DONE}"
        lock = folder / f"{index}.lock"
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            raise Conflict(
                f"chunk {index} is being uploaded by another request; retry when that one ends"
            ) from None
        try:
            os.close(fd)
            if not done.exists():
                _write_at(folder / _PART, info.size, index * info.chunk_size, data)
                done.touch()  # after the fsync: a marker lost in a crash only means the chunk is sent again
        finally:
            lock.unlink(missing_ok=True)
        self._extend_prefix(folder, info, index, data)
        return self._info(folder)

    def _extend_prefix(self, folder: Path, info: UploadInfo, index: int, data: bytes) -> None:
        """Hash the chunks that now follow the hashed prefix; only marked (fsynced) ones count."""
        with self._prefix_lock:
            digest, upto = self._prefix.get(info.id) or (hashlib.sha256(), 0)
            while upto < info.chunks and (folder / f"{upto}{_DONE}").exists():
                if upto == index:
                    digest.update(data)
                else:  # it came before the chunks ahead of it: read it back from where it was written
                    with (folder / _PART).open("rb") as fh:
                        digest.update(os.pread(fh.fileno(), info.chunk_size, upto * info.chunk_size))
                upto += 1
            self._prefix[info.id] = (digest, upto)

    def _whole_sha256(self, folder: Path, info: UploadInfo) -> str:
        with self._prefix_lock:
            found = self._prefix.pop(info.id, None)
        if found is not None and found[1] == info.chunks:
            return str(found[0].hexdigest())
        digest = hashlib.sha256()  # chunks received before a restart (or by another process)
        with (folder / _PART).open("rb") as fh:
            while block := fh.read(_BLOCK):
                digest.update(block)
        return digest.hexdigest()

    def complete(self, upload_id: str) -> Path:
        """Assemble the chunks, check the whole file's hash; returns the file (or unpacked folder)."""
        folder = self._dir(upload_id)
        info = self._info(folder)
        out = folder / "data"
        if info.complete:
            return self._payload(out, info.filename)
        if info.missing:
            shown = ", ".join(map(str, info.missing[:10]))
            raise Conflict(f"upload {upload_id} is missing chunks {shown}; send them, then complete")
        part = folder / _PART
        whole = self._whole_sha256(folder, info)
        if whole != info.sha256:
            raise Invalid(
                f"the assembled file's sha256 is {whole}, not the declared {info.sha256}; "
                "start a new upload with the right checksum"
            )
        staging = Path(tempfile.mkdtemp(dir=folder, prefix=".assemble-"))
        try:
            target = staging / info.filename
            # A second name, not a copy (every chunk was fsynced before its marker was written); `part`
            # keeps its own until the payload is in place, so a completion that fails can be tried again.
            os.link(part, target)
            if target.suffix.lower() == ".zip":
                self._unzip(target, staging / target.stem)
                target.unlink()
            os.replace(staging, out)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        part.unlink()
        for marker in folder.glob("*" + _DONE):
            marker.unlink()
        return self._payload(out, info.filename)

    @staticmethod
    def _payload(out: Path, filename: str) -> Path:
        path = out / filename
        return path if path.exists() else out / Path(filename).stem

    def _unzip(self, archive: Path, into: Path) -> None:
        """An image folder sent as a zip; no member may escape `into` or inflate past the limit."""
        try:
            with zipfile.ZipFile(archive) as zf:
                members = zf.infolist()
                if sum(m.file_size for m in members) > self.max_bytes:
                    raise PayloadTooLarge(f"the zip inflates past this server's {self.max_bytes}-byte limit")
                root = into.resolve()
                for member in members:
                    destination = (into / member.filename).resolve()
                    if destination != root and root not in destination.parents:
                        raise Invalid(f"zip member {member.filename!r} points outside the archive's folder")
                zf.extractall(into)
        except zipfile.BadZipFile as exc:
            raise Invalid(f"{archive.name} is not a valid zip archive: {exc}") from None

    def source_path(self, source: str) -> Path:
        """`upload:<id>` -> the completed file or folder to ingest."""
        upload_id = source.removeprefix(UPLOAD_PREFIX)
        info = self.get(upload_id)
        if not info.complete:
            raise Conflict(f"upload {upload_id} is not complete; finish it with POST .../complete")
        return self._payload(self._dir(upload_id) / "data", info.filename)

    def discard(self, upload_id: str) -> None:
        shutil.rmtree(self._dir(upload_id))
        with self._prefix_lock:
            self._prefix.pop(upload_id, None)

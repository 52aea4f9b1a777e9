"""The prediction log's segment files: the open Arrow stream a writer appends to, sealing it into Parquet,
recovering the streams a dead process left, and retention (see `monitoring.log_files` for the layout).

Sealing writes the Parquet file under a temporary name, fsyncs it and renames it before the stream is
deleted, so a crash at any point leaves the rows readable in one of the two files (never neither, and a
reader skips the temporary name).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from modelplane.monitoring.log_files import CLOSED, DAY_FORMAT, OPEN, day_dir, log_dir, log_root, read_segment

log = logging.getLogger(__name__)

TEMP = ".tmp"
ROW_GROUP_ROWS = 65_536
# Segments this process has open: a leftover stream named with our own pid that is not here was abandoned
# by a writer that never closed (several logs in one process, e.g. tests), so it can be sealed.
_open_here: set[Path] = set()
_open_lock = threading.Lock()


class OpenSegment:
    """One Arrow IPC stream of one schema, appended to by one writer thread."""

    def __init__(self, home: Path, deployment: str, day: str, schema: pa.Schema) -> None:
        folder = day_dir(home, deployment, datetime.strptime(day, DAY_FORMAT).date())
        folder.mkdir(parents=True, exist_ok=True)
        self.started = time.monotonic()
        name = f"{int(time.time() * 1000)}-{os.getpid()}-{secrets.token_hex(3)}{OPEN}"
        self.path = folder / name
        self.day = day
        self.schema = schema
        self.bytes = 0
        self._file: BinaryIO = open(self.path, "wb")  # noqa: SIM115 (closed in close())
        with _open_lock:
            _open_here.add(self.path)
        try:
            self._writer = ipc.new_stream(self._file, schema)
            self._file.flush()
        except BaseException:
            self.abandon()
            raise

    def append(self, table: pa.Table) -> None:
        """Write the rows and hand them to the OS: a `kill -9` from here on keeps them."""
        self._writer.write_table(table)
        self._file.flush()
        self.bytes = self._file.tell()

    def close_stream(self) -> None:
        """End the stream (`seal` turns it into Parquet after)."""
        try:
            self._writer.close()
            self._file.close()
        finally:
            with _open_lock:
                _open_here.discard(self.path)

    def abandon(self) -> None:
        """After a failed write: close the file without sealing (what reached the disk stays readable, and
        the next start recovers it)."""
        with _open_lock:
            _open_here.discard(self.path)
        with contextlib.suppress(OSError):
            self._file.close()


def parquet_options(schema: pa.Schema) -> dict[str, object]:
    """zstd everywhere; float columns as BYTE_STREAM_SPLIT (the bytes of each position together compress
    far better than whole floats), except feature columns of few distinct values, which dictionary pages
    catch first (pyarrow falls back to the encoding by itself when the dictionary grows too large)."""
    split = [
        f.name
        for f in schema
        if pa.types.is_floating(f.type) and not f.name.startswith("f:") and f.name != "latency_ms"
    ]
    dictionary = [f.name for f in schema if f.name not in split and f.name not in ("time", "row")]
    return {
        "compression": "zstd",
        "compression_level": 3,  # level 6 costs twice the CPU for 0.5 % less size (digits log)
        "use_dictionary": dictionary,
        "column_encoding": dict.fromkeys(split, "BYTE_STREAM_SPLIT") or None,
        "write_statistics": ["time"],  # lets a reader of a time window skip the other row groups
        "row_group_size": ROW_GROUP_ROWS,
    }


def seal(path: Path) -> Path | None:
    """Rewrite an `.arrows` stream as a `.parquet` segment (temp name, fsync, rename), then delete the
    stream; a stream with no complete batch is deleted."""
    table = read_segment(path)
    if table is None or table.num_rows == 0:
        path.unlink(missing_ok=True)
        return None
    target = path.with_suffix(CLOSED)
    temp = target.with_name(target.name + TEMP)
    pq.write_table(table, temp, **parquet_options(table.schema))
    with open(temp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(temp, target)
    _fsync_dir(target.parent)
    path.unlink(missing_ok=True)
    return target


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def abandoned(path: Path, stale_s: float, now: float | None = None) -> bool:
    """Whether an open segment's writer is gone: its process is dead, it is ours but no live writer holds
    it, or it is older than `stale_s` (a writer seals its segments long before)."""
    try:
        started_ms, pid, _tag = path.stem.split("-", 2)
        started, owner = int(started_ms) / 1000, int(pid)
    except ValueError:
        return False  # not a name we write
    if (now or time.time()) - started > stale_s:
        return True
    if owner == os.getpid():
        with _open_lock:
            return path not in _open_here
    return not _pid_alive(owner)


def recover(home: Path, stale_s: float) -> list[Path]:
    """Seal every abandoned open segment under `home` (crash recovery); the Parquet files written."""
    root = log_root(home)
    if not root.is_dir():
        return []
    sealed = []
    for path in sorted(root.glob(f"*/*/*{OPEN}")):
        if not abandoned(path, stale_s):
            continue
        leftover = path.with_suffix(CLOSED + TEMP)
        leftover.unlink(missing_ok=True)  # a seal cut short: the stream still holds every row
        try:
            done = seal(path)
        except (OSError, pa.ArrowException) as exc:
            log.warning("cannot recover prediction log segment %s: %s", path, exc)
            continue
        if done is not None:
            sealed.append(done)
    return sealed


def enforce_retention(home: Path, deployment: str, retain_days: float, retain_bytes: int | None) -> int:
    """Delete whole closed segments of `deployment` older than `retain_days` (by when they were sealed),
    then the oldest while its log is over `retain_bytes`; the bytes freed. Open segments are never
    deleted (they count toward the size)."""
    folder = log_dir(home, deployment)
    if not folder.is_dir():
        return 0
    cutoff = time.time() - retain_days * 86400
    closed: list[tuple[str, Path, int]] = []
    total = 0
    freed = 0
    for path in folder.glob("*/*"):
        if path.suffix not in (CLOSED, OPEN):
            continue
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        if path.suffix == CLOSED and stat.st_mtime < cutoff:
            freed += _remove(path, stat.st_size)
            continue
        total += stat.st_size
        if path.suffix == CLOSED:
            closed.append((path.parent.name + "/" + path.name.rjust(40, "0"), path, stat.st_size))
    if retain_bytes is not None:
        for _key, path, size in sorted(closed):
            if total <= retain_bytes:
                break
            freed += _remove(path, size)
            total -= size
    for day in folder.iterdir():
        if day.is_dir() and not any(day.iterdir()):
            with contextlib.suppress(OSError):  # a writer just opened a segment there
                day.rmdir()
    return freed


def _remove(path: Path, size: int) -> int:
    try:
        path.unlink()
    except FileNotFoundError:
        return 0
    return size

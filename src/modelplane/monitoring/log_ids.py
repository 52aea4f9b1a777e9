"""Which (request id, row) pairs a deployment's prediction log holds, fast enough to check a feedback batch
against a month of log.

Only the `request_id` and `row` columns are read. A closed `.parquet` segment never changes, so its pairs
are kept in memory as a sorted array of 64-bit hashes, keyed by path, size and mtime (a segment rewritten
in place reads anew); the open `.arrows` segments are read every time. A hash collision could call an
unknown pair known, with a chance of about n·m / 2^64: far below anything a person will see.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from modelplane.monitoring.log_files import CLOSED, read_segment, segment_files
from modelplane.monitoring.schema import REQUEST_ID, ROW

CACHE_PAIRS = 20_000_000  # hashes kept across closed segments (8 bytes each: 160 MB at most)

_SegmentKey = tuple[str, int, int]
_cache: OrderedDict[_SegmentKey, np.ndarray] = OrderedDict()
_cached_pairs = 0
_lock = threading.Lock()


def pair_hashes(request_ids: Sequence[str], rows: Sequence[int]) -> np.ndarray:
    """One int64 per (request id, row): Python's own hash, stable within this process, which is as long as
    the cache lives."""
    return np.fromiter(
        (hash((r, int(n))) for r, n in zip(request_ids, rows, strict=True)), np.int64, len(request_ids)
    )


def _segment_hashes(path: Path) -> np.ndarray | None:
    table = read_segment(path, [REQUEST_ID, ROW])
    if table is None or REQUEST_ID not in table.column_names or ROW not in table.column_names:
        return None
    hashes = pair_hashes(table[REQUEST_ID].to_pylist(), table[ROW].to_pylist())
    hashes.sort()
    return hashes


def _closed_hashes(path: Path) -> np.ndarray | None:
    global _cached_pairs
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
    hashes = _segment_hashes(path)
    if hashes is None:
        return None
    with _lock:
        if key not in _cache:
            _cache[key] = hashes
            _cached_pairs += len(hashes)
        while _cached_pairs > CACHE_PAIRS and len(_cache) > 1:
            _, dropped = _cache.popitem(last=False)
            _cached_pairs -= len(dropped)
    return hashes


def logged(home: Path, deployment: str, wanted: np.ndarray) -> np.ndarray:
    """For each hash in `wanted` (from `pair_hashes`), whether the deployment's log holds that pair."""
    found = np.zeros(len(wanted), dtype=bool)
    for path in reversed(segment_files(home, deployment, None, None)):  # newest first: feedback is recent
        if found.all():
            break
        hashes = _closed_hashes(path) if path.suffix == CLOSED else _segment_hashes(path)
        if hashes is None or not len(hashes):
            continue
        at = np.searchsorted(hashes, wanted)
        at[at == len(hashes)] = 0
        found |= hashes[at] == wanted
    return found


def clear_cache() -> None:
    global _cached_pairs
    with _lock:
        _cache.clear()
        _cached_pairs = 0

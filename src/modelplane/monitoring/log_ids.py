"""Which (request id, row) pairs a deployment's prediction log holds, fast enough to check a feedback batch
against a month of log.

Only the `request_id` and `row` columns are read. Each segment is matched in Arrow's compute kernels (the
segment's ids against the batch's, no Python per logged row); only the few rows whose request id is in
the batch are compared by row in Python. A closed `.parquet` segment never changes, so its two columns are
kept in memory (least recently used out past `CACHE_BYTES`), keyed by path, size and mtime (a segment
rewritten in place is read anew); the open `.arrows` segments are read every time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelplane.monitoring.log_files import CLOSED, read_segment, segment_files
from modelplane.monitoring.schema import REQUEST_ID, ROW

CACHE_BYTES = 256 << 20

_SegmentKey = tuple[str, int, int]
_cache: OrderedDict[_SegmentKey, pa.Table] = OrderedDict()
_cached_bytes = 0
_lock = threading.Lock()


def _ids(path: Path) -> pa.Table | None:
    table = read_segment(path, [REQUEST_ID, ROW])
    if table is None or REQUEST_ID not in table.column_names or ROW not in table.column_names:
        return None
    return table.combine_chunks()


def _closed_ids(path: Path) -> pa.Table | None:
    global _cached_bytes
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
    table = _ids(path)
    if table is None:
        return None
    with _lock:
        if key not in _cache:
            _cache[key] = table
            _cached_bytes += table.nbytes
        while _cached_bytes > CACHE_BYTES and len(_cache) > 1:
            _, dropped = _cache.popitem(last=False)
            _cached_bytes -= dropped.nbytes
    return table


def logged(home: Path, deployment: str, request_ids: Sequence[str], rows: Sequence[int]) -> np.ndarray:
    """For each (request id, row), whether the deployment's prediction log holds it."""
    wanted = list(zip(request_ids, (int(r) for r in rows), strict=True))
    found = np.zeros(len(wanted), dtype=bool)
    if not wanted:
        return found
    position = {pair: i for i, pair in enumerate(wanted)}
    pending = pa.array(sorted(set(request_ids)), pa.string())
    for path in reversed(segment_files(home, deployment, None, None)):  # newest first: feedback is recent
        table = _closed_ids(path) if path.suffix == CLOSED else _ids(path)
        if table is None or table.num_rows == 0:
            continue
        hits = table.filter(pc.is_in(table[REQUEST_ID], value_set=pending))
        if hits.num_rows == 0:
            continue
        for pair in zip(hits[REQUEST_ID].to_pylist(), hits[ROW].to_pylist(), strict=True):
            at = position.get(pair)
            if at is not None:
                found[at] = True
        if found.all():
            break
    return found


def clear_cache() -> None:
    global _cached_bytes
    with _lock:
        _cache.clear()
        _cached_bytes = 0

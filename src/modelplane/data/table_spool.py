"""Stream table chunks into a Parquet artifact (one row group per chunk, so memory follows the chunk), with
the table's content digest and per-column statistics computed on the way.

The digest covers the values, not the file's bytes: the same rows read with another `--chunk-rows` (other
row groups) or written by another pyarrow (other metadata) digest the same, so re-adding identical content
stays "unchanged". Each column feeds its own hashes (validity, values, text lengths), which makes the digest
independent of where chunks start.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from modelplane.data.catalog import DatasetVersionInfo
from modelplane.data.formats.tabular import rechunk
from modelplane.store import Store
from modelplane.tables.columns import Column

MAX_DISTINCT = 100_000  # categorical values counted per column before the count stops (`distinct_capped`)
_COMPARE_ROWS = 1 << 16


class TableSpool:
    """Appends converted chunks (all of `schema`) to a temp Parquet file; `publish` stores it as an
    artifact."""

    def __init__(self, tmp_dir: Path, columns: list[Column], schema: pa.Schema) -> None:
        fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="table-", suffix=".parquet")
        os.close(fd)
        self.path = Path(name)
        # Dictionary pages pay off for categories only: trying them on float columns triples write time.
        categories = [c.name for c in columns if c.role == "categorical"]
        self._writer: pq.ParquetWriter | None = pq.ParquetWriter(self.path, schema, use_dictionary=categories)
        self.columns = columns
        self.schema = schema
        self.rows = 0
        self._digests = {c.name: _ColumnDigest() for c in columns}
        self._stats = {c.name: _ColumnStats(c.role) for c in columns}
        self._sha = ""

    def append(self, table: pa.Table) -> None:
        assert self._writer is not None
        self._writer.write_table(table)
        for column in self.columns:
            values = table.column(column.name).combine_chunks()
            self._digests[column.name].add(values)
            self._stats[column.name].add(values)
        self.rows += table.num_rows

    def digest(self) -> str:
        """The content digest of every row appended so far (names, stored types and values)."""
        parts = [[f.name, str(f.type), *self._digests[f.name].hexdigests()] for f in self.schema]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()

    def stats(self) -> dict[str, Any]:
        """`columns`: per column its role, missing values, and by role distinct values (categorical), true
        values (boolean), min / max / mean (numeric, datetime)."""
        return {"columns": {name: stats.to_dict() for name, stats in self._stats.items()}}

    def publish(self, store: Store) -> str:
        """Close the Parquet file and copy it into the store; returns its sha256."""
        self._finish()
        self._sha = store.artifacts.put_file(self.path)
        return self._sha

    def content(self) -> str:
        return self.digest()

    def starts_with(self, store: Store, parent: DatasetVersionInfo) -> bool:
        """Whether the published table begins with the parent's rows (and has more)."""
        old = store.artifacts.verified_path(parent.features_sha)
        return starts_with(store.artifacts.path_for(self._sha), old, parent.num_rows)

    def _finish(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def close(self) -> None:
        self._finish()
        self.path.unlink(missing_ok=True)


def read_tables(path: Path, chunk_rows: int) -> Iterator[pa.Table]:
    """A stored table back in tables of `chunk_rows` rows, one row group in memory at a time."""
    with pq.ParquetFile(path, pre_buffer=False) as parquet:
        yield from rechunk(parquet.iter_batches(batch_size=chunk_rows), chunk_rows)


def starts_with(path: Path, prefix: Path, prefix_rows: int) -> bool:
    """Whether the table at `path` has more rows than `prefix_rows` and begins with the table at
    `prefix` (same columns, same values), compared block by block."""
    if pq.read_metadata(path).num_rows <= prefix_rows:
        return False
    if pq.read_schema(path).remove_metadata() != pq.read_schema(prefix).remove_metadata():
        return False
    compared = 0
    for new, old in zip(read_tables(path, _COMPARE_ROWS), read_tables(prefix, _COMPARE_ROWS), strict=False):
        if not new.slice(0, old.num_rows).equals(old):
            return False
        compared += old.num_rows
    return compared == prefix_rows


class _ColumnDigest:
    """Hashes of one column's missing rows (their indices), values and (text) value lengths, fed chunk by
    chunk."""

    def __init__(self) -> None:
        self._rows = 0
        self._missing = hashlib.sha256()
        self._values = hashlib.sha256()
        self._lengths = hashlib.sha256()

    def add(self, values: pa.Array) -> None:
        if values.null_count:
            missing = np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False)) + self._rows
            self._missing.update(missing.astype(np.int64).tobytes())
        self._rows += len(values)
        if pa.types.is_string(values.type):
            filled = (pc.fill_null(values, "") if values.null_count else values).cast(pa.large_string())
            lengths = pc.binary_length(filled).to_numpy(zero_copy_only=False)
            self._lengths.update(lengths.astype(np.int64).tobytes())
            offsets = np.frombuffer(filled.buffers()[1], dtype=np.int64)[filled.offset :]
            data = filled.buffers()[2]
            if data is not None:
                self._values.update(memoryview(data)[offsets[0] : offsets[len(filled)]])
            return
        if values.null_count:
            values = pc.fill_null(values, False if pa.types.is_boolean(values.type) else 0)
        self._values.update(np.ascontiguousarray(values.to_numpy(zero_copy_only=False)).tobytes())

    def hexdigests(self) -> list[str]:
        return [self._missing.hexdigest(), self._values.hexdigest(), self._lengths.hexdigest()]


class _ColumnStats:
    """What `data show` tells about a column, accumulated chunk by chunk."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.missing = 0
        self.true = 0
        self.count = 0
        self.total = 0.0
        self.low = np.inf
        self.high = -np.inf
        self.seen: set[str] = set()
        self.capped = False

    def add(self, values: pa.Array) -> None:
        self.missing += values.null_count
        present = values.drop_null() if values.null_count else values
        if self.role == "boolean":
            self.true += int(pc.sum(present).as_py() or 0)
        elif self.role in ("numeric", "datetime") and len(present):
            numbers = present.to_numpy(zero_copy_only=False)
            self.count += len(numbers)
            self.total += float(numbers.sum())
            self.low = min(self.low, float(numbers.min()))
            self.high = max(self.high, float(numbers.max()))
        elif self.role == "categorical" and not self.capped:
            self.seen.update(pc.unique(present).to_pylist())
            if len(self.seen) > MAX_DISTINCT:
                self.capped, self.seen = True, set()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "missing": self.missing}
        if self.role == "boolean":
            out["true"] = self.true
        elif self.role == "categorical":
            out["distinct"] = MAX_DISTINCT if self.capped else len(self.seen)
            out["distinct_capped"] = self.capped
        elif self.role in ("numeric", "datetime") and self.count:
            out.update(min=self.low, max=self.high, mean=self.total / self.count)
        return out

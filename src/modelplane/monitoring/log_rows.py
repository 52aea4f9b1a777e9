"""Logged requests -> Arrow columns of the log's schema (`monitoring.schema`), built off the event loop.

Serving hands the writer references only (the batch the model read, the outputs it answered); all Arrow
work happens here, on the writer thread, once per flush: records of the same shape are concatenated first
so a flush of 10,000 one-row requests costs one `feature_frame` call, not 10,000.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import repeat
from operator import attrgetter, is_, itemgetter
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

from modelplane.monitoring.frames import MAX_FEATURES, feature_frame, tensor_feature_names
from modelplane.monitoring.schema import (
    BASE_FIELDS,
    CLASSES_KEY,
    KEY_ID,
    LABEL,
    LATENCY_MS,
    PREDICTION,
    PROBABILITIES,
    REQUEST_ID,
    ROW,
    STATUS,
    TIME,
    TIME_TYPE,
    VERSION,
    WIDE_INPUT,
    feature_field,
)
from modelplane.tables.signature import TableSignature

_BLOCK_ROWS = 1024  # rows transposed at once: a block's columns stay in the CPU cache


class Record(NamedTuple):
    """One logged request as `PredictionLog.submit` queued it (references, nothing copied)."""

    deployment: str
    version: str
    request_id: str
    key_id: str | None
    latency_ms: float
    status: int
    x: np.ndarray | None  # None for a failed request
    table: TableSignature | None
    outputs: dict[str, np.ndarray]
    classes: Sequence[str]
    time: float  # seconds since the epoch (UTC), when the answer was ready
    rows: int  # log rows it makes: the batch's rows, 1 for a failed request


DEPLOYMENT_OF, VERSION_OF, X_OF, TABLE_OF, CLASSES_OF, ROWS_OF = map(itemgetter, (0, 1, 6, 7, 9, 11))


def _group_key(record: Record) -> tuple[Any, ...]:
    """Records with equal keys concatenate into one frame: the same version (so the same outputs and
    classes) fed the same kind of batch (a float tensor of one shape, or structured rows), or failed."""
    x = record[6]
    if x is None:  # failed: no features or outputs, whatever (fresh, empty) objects it was given for them
        return (record[1], None, None, None)
    return (record[1], id(record[7]), id(record[9]), (x.dtype, x.shape[1:]))


def build_table(records: list[Record]) -> pa.Table:
    """The log rows of `records` (one deployment's); columns a group lacks are null. Rows are oldest first
    within each group of like records (answered by one version, or failed), not across groups: the
    readers order what they read by time, so the writer does not copy every column to interleave them.

    It runs on the writer thread while the event loop serves, and holds the GIL for whatever it does in
    Python, so per-record work is a few C-level passes (`zip(*records)`, `map`), not a loop body."""
    if _uniform(records):
        try:
            return _group_table(records)
        except ValueError:  # batches of different widths after all: group them below
            pass
    groups: dict[tuple[Any, ...], list[Record]] = {}
    for record, key in zip(records, map(_group_key, records), strict=True):
        groups.setdefault(key, []).append(record)
    tables = [_group_table(group) for group in groups.values()]
    if len(tables) == 1:
        return tables[0]
    merged = pa.concat_tables(tables, promote_options="permissive")
    classes = next((t.schema.metadata for t in tables if t.schema.metadata), None)
    return merged.replace_schema_metadata(classes)


def _uniform(records: list[Record]) -> bool:
    """Whether every record is of one version and table, and every one answered with a batch of one dtype
    (or every one failed): the common case, checked in C-level passes."""
    if len(records) == 1:
        return True
    xs = list(map(X_OF, records))
    failed = sum(map(is_, xs, repeat(None)))
    if failed:
        return failed == len(xs) and len(set(map(VERSION_OF, records))) == 1
    return (
        len(set(map(VERSION_OF, records))) == 1
        and len(set(map(id, map(TABLE_OF, records)))) == 1
        and len(set(map(id, map(CLASSES_OF, records)))) == 1
        and len(set(map(attrgetter("dtype"), xs))) == 1
    )


def _group_table(group: list[Record]) -> pa.Table:
    _, versions, ids, keys, latencies, statuses, xs, tables, outputs, classes, times, rows = zip(
        *group, strict=True
    )
    n = len(group)
    failed = xs[0] is None
    counts = np.array(rows, np.int64)
    total = int(counts.sum())
    spread = None if total == n else np.repeat(np.arange(n), counts)  # request -> its rows

    def per_row(array: pa.Array) -> pa.Array:
        return array if spread is None else array.take(spread)

    if spread is None:
        row = np.zeros(total, np.int32)
    else:
        row = (np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)).astype(np.int32)
    columns: dict[str, pa.Array] = {
        REQUEST_ID: per_row(pa.array(ids, pa.string())),
        ROW: pa.array(row),
        TIME: per_row(pa.array((np.array(times) * 1e6).astype(np.int64), TIME_TYPE)),
        VERSION: pa.repeat(pa.scalar(versions[0], pa.string()), total),
        KEY_ID: per_row(pa.array(keys, pa.string())),
        LATENCY_MS: per_row(pa.array(np.array(latencies, np.float32))),
        STATUS: per_row(pa.array(np.array(statuses, np.int16))),
    }
    fields = list(BASE_FIELDS)
    metadata = None
    if not failed:
        for field, array in _features(xs, tables[0]):
            fields.append(field)
            columns[field.name] = array
        for name in outputs[0]:
            stacked = outputs[0][name] if n == 1 else np.concatenate(list(map(itemgetter(name), outputs)))
            out = _output(name, stacked)
            if out is not None:
                fields.append(pa.field(name, out.type))
                columns[name] = out
        if classes[0]:
            metadata = {CLASSES_KEY: json.dumps(list(classes[0])).encode()}
    schema = pa.schema(fields, metadata=metadata)
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)


def _features(xs: Sequence[np.ndarray], table: TableSignature | None) -> list[tuple[pa.Field, pa.Array]]:
    """The feature columns of a group's batches (all structured rows, or all tensors of one shape)."""
    x = xs[0] if len(xs) == 1 else np.concatenate(xs)
    if x.dtype.names is None:
        return _tensor_features(x.reshape(len(x), -1), table)
    frame = feature_frame(x, table)
    out = []
    for name, values in frame.columns.items():
        kind = frame.kinds[name]
        field = feature_field(name, kind)
        if kind == "categorical":
            array = pa.array(values, pa.string())
        else:
            array = pa.array(values.astype(np.float32), pa.float32())  # NaN (missing) stays NaN
        out.append((field, array))
    return out


def _tensor_features(flat: np.ndarray, table: TableSignature | None) -> list[tuple[pa.Field, pa.Array]]:
    """One column per feature, or one list column past `MAX_FEATURES`, each going to Arrow without a
    further copy."""
    if flat.shape[1] > MAX_FEATURES:
        rows = np.ascontiguousarray(flat, dtype=np.float32)
        offsets = pa.array(np.arange(0, rows.size + 1, rows.shape[1], dtype=np.int32))
        wide = pa.ListArray.from_arrays(offsets, pa.array(rows.reshape(-1)))
        return [(pa.field(WIDE_INPUT, wide.type), wide)]
    columns = zip(tensor_feature_names(flat.shape[1], table), _transposed(flat), strict=True)
    return [(feature_field(name, "numeric"), pa.array(column)) for name, column in columns]


def _transposed(flat: np.ndarray) -> np.ndarray:
    """`flat` as one float32 (features, rows) array, transposed a block of rows at a time: a transpose of
    the whole batch (or a cast column by column) strides across memory and costs ~25x more, holding the
    GIL from the event loop all along."""
    out = np.empty((flat.shape[1], len(flat)), np.float32)
    for start in range(0, len(flat), _BLOCK_ROWS):
        out[:, start : start + _BLOCK_ROWS] = flat[start : start + _BLOCK_ROWS].T
    return out


def _output(name: str, values: np.ndarray) -> pa.Array | None:
    """A known output as its log column; outputs the schema has no column for are not logged."""
    if name == LABEL:
        labels = np.asarray(values).reshape(-1)
        if labels.dtype == object:  # the class names a classifier answers with: str already
            try:
                return pa.array(labels, pa.string())
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                pass
        return pa.array(labels.astype(str).astype(object), pa.string())
    if name == PROBABILITIES:
        flat = np.ascontiguousarray(values, dtype=np.float32)
        width = flat.shape[1] if flat.ndim == 2 else 1
        return pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), width)
    if name == PREDICTION:
        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim == 1:
            return pa.array(values)
        flat = np.ascontiguousarray(values.reshape(len(values), -1))
        return pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), flat.shape[1])
    return None


def utc_day(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d")


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table | None:
    """`table` in `schema`'s columns (those it lacks as nulls), or None when it has a column `schema`
    lacks, a type that differs, or other class names: it belongs in a segment of its own."""
    names = set(schema.names)
    for field in table.schema:
        if field.name not in names or schema.field(field.name).type != field.type:
            return None
    classes = (table.schema.metadata or {}).get(CLASSES_KEY)
    if classes is not None and classes != (schema.metadata or {}).get(CLASSES_KEY):
        return None
    arrays = [
        table[f.name] if f.name in table.schema.names else pa.nulls(table.num_rows, f.type) for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def widen(old: pa.Schema, new: pa.Schema) -> pa.Schema:
    """A segment schema for `new` that keeps `old`'s columns where they agree (so a flush that happens to
    hold only failed rows, or only one of two versions, does not start another segment)."""
    if (new.metadata or {}).get(CLASSES_KEY) not in (None, (old.metadata or {}).get(CLASSES_KEY)):
        return new
    try:
        merged = pa.unify_schemas([old, new])
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # a column changed type: start afresh
        return new
    return merged.with_metadata(new.metadata or old.metadata)

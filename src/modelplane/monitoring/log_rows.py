"""Logged requests -> Arrow columns of the log's schema (`monitoring.schema`), built off the event loop.

Serving hands the writer references only (the batch the model read, the outputs it answered); all Arrow
work happens here, on the writer thread, once per flush: records of the same shape are concatenated first
so a flush of 10,000 one-row requests costs one `feature_frame` call, not 10,000.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

from modelplane.monitoring.frames import MAX_FEATURES, feature_frame
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
    classes: list[str]
    time: float  # seconds since the epoch (UTC), when the answer was ready

    @property
    def rows(self) -> int:
        return len(self.x) if self.x is not None and self.x.ndim else 1


def _shape_key(record: Record) -> tuple[Any, ...]:
    """Records with equal keys concatenate into one frame (same model input and the same outputs)."""
    x = record.x
    if x is None:
        return ("failed",)
    outputs = tuple((n, a.dtype.str, a.shape[1:]) for n, a in record.outputs.items())
    return (x.dtype, x.shape[1:], id(record.table), outputs, tuple(record.classes))


def build_table(records: list[Record]) -> pa.Table:
    """The log rows of `records` (one deployment's), oldest first; columns a group lacks are null."""
    groups: dict[tuple[Any, ...], list[Record]] = {}
    for record in records:
        groups.setdefault(_shape_key(record), []).append(record)
    tables = [_group_table(group) for group in groups.values()]
    if len(tables) == 1:
        return tables[0]
    merged = pa.concat_tables(tables, promote_options="permissive")
    classes = next((t.schema.metadata for t in tables if t.schema.metadata), None)
    merged = merged.replace_schema_metadata(classes)
    return merged.take(np.argsort(merged[TIME].to_numpy(), kind="stable"))


def _group_table(group: list[Record]) -> pa.Table:
    counts = np.fromiter((r.rows for r in group), dtype=np.int64, count=len(group))
    total = int(counts.sum())
    times = np.fromiter((r.time for r in group), dtype=np.float64, count=len(group))
    micros = np.repeat((times * 1e6).astype(np.int64), counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    columns: dict[str, pa.Array] = {
        REQUEST_ID: _repeat_strings([r.request_id for r in group], counts),
        ROW: pa.array((np.arange(total, dtype=np.int64) - starts).astype(np.int32)),
        TIME: pa.array(micros, TIME_TYPE),
        VERSION: _repeat_strings([r.version for r in group], counts),
        KEY_ID: _repeat_strings([r.key_id for r in group], counts),
        LATENCY_MS: pa.array(np.repeat(np.array([r.latency_ms for r in group], np.float32), counts)),
        STATUS: pa.array(np.repeat(np.array([r.status for r in group], np.int16), counts)),
    }
    fields = list(BASE_FIELDS)
    metadata = None
    first = group[0]
    if first.x is not None:
        x = first.x if len(group) == 1 else np.concatenate([r.x for r in group])
        for field, array in _features(x, first.table):
            fields.append(field)
            columns[field.name] = array
        for name, values in first.outputs.items():
            stacked = values if len(group) == 1 else np.concatenate([r.outputs[name] for r in group])
            out = _output(name, stacked)
            if out is not None:
                fields.append(pa.field(name, out.type))
                columns[name] = out
        if first.classes:
            metadata = {CLASSES_KEY: json.dumps(list(first.classes)).encode()}
    schema = pa.schema(fields, metadata=metadata)
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)


def _repeat_strings(values: list[str | None], counts: np.ndarray) -> pa.Array:
    """Per-request strings repeated over their rows, built as a dictionary so Arrow copies no text."""
    uniques: dict[str | None, int] = {}
    codes = np.fromiter((uniques.setdefault(v, len(uniques)) for v in values), np.int32, len(values))
    dictionary = pa.array(list(uniques), pa.string())
    indices = pa.array(np.repeat(codes, counts))
    return pa.DictionaryArray.from_arrays(indices, dictionary).cast(pa.string())


def _features(x: np.ndarray, table: TableSignature | None) -> list[tuple[pa.Field, pa.Array]]:
    if x.dtype.names is None and int(np.prod(x.shape[1:])) > MAX_FEATURES:
        flat = np.ascontiguousarray(x.reshape(len(x), -1), dtype=np.float32)
        offsets = pa.array(np.arange(0, flat.size + 1, flat.shape[1], dtype=np.int32))
        wide = pa.ListArray.from_arrays(offsets, pa.array(flat.reshape(-1)))
        return [(pa.field(WIDE_INPUT, wide.type), wide)]
    frame = feature_frame(x, table)
    out = []
    for name, values in frame.columns.items():
        kind = frame.kinds[name]
        field = feature_field(name, kind)
        if kind == "categorical":
            array = pa.array(values, pa.string(), from_pandas=True)
        else:
            array = pa.array(values.astype(np.float32), pa.float32(), from_pandas=True)
        out.append((field, array))
    return out


def _output(name: str, values: np.ndarray) -> pa.Array | None:
    """A known output as its log column; outputs the schema has no column for are not logged."""
    if name == LABEL:
        return pa.array(np.asarray(values).reshape(-1).astype(str).astype(object), pa.string())
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
    except pa.ArrowInvalid:
        return new
    return merged.with_metadata(new.metadata or old.metadata)

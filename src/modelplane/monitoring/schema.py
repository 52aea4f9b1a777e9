"""The prediction log's columns: one row per predicted row (a request of 64 rows is 64 log rows).

Fixed columns: `request_id` (the V2 `id`, or one the server made and answered with), `row` (the row's index
in its request: feedback names a row as request_id + row, row 0 by default), `time` (UTC, when the answer
was ready), `version` (the version that answered: main or canary), `key_id` (the API key's id, null without
auth), `latency_ms` (the whole request's), `status` (200, or the HTTP status a failed request answered,
gRPC codes mapped to it; a failed request is one row with no features and no outputs).

Outputs: `label` (class name) + `probabilities` for a classifier, `prediction` for a regressor (a list when
the model predicts several values). Features: one column per feature named `f:<feature>` (float32 for
numbers, string for categories; see monitoring/frames.py), or one `input` column (a list of float32) for
tensors wider than `frames.MAX_FEATURES`.

The file's schema metadata carries `classes` (JSON list) so a reader needs nothing else to map labels.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from modelplane.monitoring.frames import FeatureFrame, FeatureKind, OutputFrame

FEATURE_PREFIX = "f:"
WIDE_INPUT = "input"
REQUEST_ID, ROW, TIME, VERSION = "request_id", "row", "time", "version"
KEY_ID, LATENCY_MS, STATUS = "key_id", "latency_ms", "status"
LABEL, PROBABILITIES, PREDICTION = "label", "probabilities", "prediction"
TIME_TYPE = pa.timestamp("us", tz="UTC")
CLASSES_KEY = b"classes"

BASE_FIELDS = (
    pa.field(REQUEST_ID, pa.string(), nullable=False),
    pa.field(ROW, pa.int32(), nullable=False),
    pa.field(TIME, TIME_TYPE, nullable=False),
    pa.field(VERSION, pa.string(), nullable=False),
    pa.field(KEY_ID, pa.string()),
    pa.field(LATENCY_MS, pa.float32(), nullable=False),
    pa.field(STATUS, pa.int16(), nullable=False),
)
ANSWERED = 200  # `status` of a row the model answered; any other row is a failed request (no outputs)


def feature_field(name: str, kind: FeatureKind) -> pa.Field:
    return pa.field(FEATURE_PREFIX + name, pa.string() if kind == "categorical" else pa.float32())


def classes_of(schema: pa.Schema) -> list[str]:
    raw = (schema.metadata or {}).get(CLASSES_KEY)
    return list(json.loads(raw)) if raw else []


def features_of(table: pa.Table) -> FeatureFrame:
    """The `f:` columns of a log table as a frame (numbers as float64, nulls as NaN / None)."""
    columns: dict[str, np.ndarray] = {}
    kinds: dict[str, FeatureKind] = {}
    for field in table.schema:
        if not field.name.startswith(FEATURE_PREFIX):
            continue
        name = field.name[len(FEATURE_PREFIX) :]
        column = table.column(field.name)
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            columns[name], kinds[name] = np.array(column.to_pylist(), dtype=object), "categorical"
        else:
            values = column.to_numpy(zero_copy_only=False).astype(np.float64)
            columns[name], kinds[name] = values, "numeric"
    return FeatureFrame(columns, kinds)


def outputs_of(table: pa.Table) -> OutputFrame:
    """The output columns of a log table."""
    names = table.schema.names
    if LABEL in names:
        label = np.array(table.column(LABEL).to_pylist(), dtype=object)
        probabilities = None
        if PROBABILITIES in names and table.num_rows:
            flat = table.column(PROBABILITIES).combine_chunks()
            width = flat.type.list_size if pa.types.is_fixed_size_list(flat.type) else None
            values = flat.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
            probabilities = values.reshape(table.num_rows, width or -1)
        return OutputFrame(label=label, probabilities=probabilities, classes=classes_of(table.schema))
    if PREDICTION in names:
        column = table.column(PREDICTION)
        if pa.types.is_list(column.type) or pa.types.is_fixed_size_list(column.type):
            values = np.array(column.to_pylist(), dtype=np.float64)
        else:
            values = column.to_numpy(zero_copy_only=False).astype(np.float64)
        return OutputFrame(prediction=values)
    return OutputFrame()

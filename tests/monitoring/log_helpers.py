"""Prediction-log segments written the way the log writer lays them out, and small served models."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelplane.local import Local
from modelplane.monitoring.log_files import day_dir
from modelplane.monitoring.schema import (
    BASE_FIELDS,
    CLASSES_KEY,
    LABEL,
    PREDICTION,
    PROBABILITIES,
    feature_field,
)

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def write_log(
    home: Path,
    deployment: str,
    rows: Sequence[dict[str, Any]],
    *,
    classes: Sequence[str] | None = None,
    features: Sequence[str] = (),
    name: str = "1-1-a",
    probabilities: bool = False,
) -> Path:
    """One closed segment under the day folder of the first row's time. Each row: request_id, row, time,
    version, and label (with `classes`) or prediction, and `f:<name>` values for `features`."""
    fields = list(BASE_FIELDS) + [feature_field(f, "numeric") for f in features]
    if classes is not None:
        fields.append(pa.field(LABEL, pa.string()))
        if probabilities:
            fields.append(pa.field(PROBABILITIES, pa.list_(pa.float32(), len(classes))))
    else:
        fields.append(pa.field(PREDICTION, pa.float32()))
    schema = pa.schema(fields, metadata={CLASSES_KEY: json.dumps(list(classes or [])).encode()})
    columns: dict[str, list[Any]] = {f.name: [] for f in fields}
    for r in rows:
        full = {"row": 0, "key_id": None, "latency_ms": 1.0, "status": 200, "version": "1", **r}
        if probabilities and classes is not None:
            full.setdefault(PROBABILITIES, [1.0 / len(classes)] * len(classes))
        for f in fields:
            columns[f.name].append(full.get(f.name))
    table = pa.table(columns, schema=schema)
    folder = day_dir(home, deployment, rows[0]["time"].date())
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.parquet"
    pq.write_table(table, path)
    return path


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture(scope="package")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    """iris-logreg@1 and @2 (deployment `iris`, @2 as its canary) and diabetes-random_forest@1 (deployment
    `diab`): scikit-learn models, quick to train."""
    local = Local(tmp_path_factory.mktemp("feedback-home"))
    local.datasets.add("iris", source="builtin:iris")
    local.datasets.add("diabetes", source="builtin:diabetes")
    local.train(data="iris", model="logreg")
    local.train(data="iris", model="logreg")
    local.train(data="diabetes", model="random_forest")
    local.deploy({"model": "iris-logreg@1", "canary": {"model": "iris-logreg@2", "percent": 10}}, name="iris")
    local.deploy({"model": "diabetes-random_forest@1"}, name="diab")
    yield local
    local.close()

"""A toy data format, one module for both ingest and batch prediction: JSON lines `{"x": [...], "y": ...}`
(`"id"` instead of `"y"` in rows to predict). tests/data/test_format_registry.py registers it."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from modelplane.data.inputs import InputChunk, InputLayout
from modelplane.data.sources import Chunk, SourceOptions, SourceSchema


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def open_source(path: Path, options: SourceOptions) -> tuple[SourceSchema, Iterator[Chunk]]:
    rows = _rows(path)
    x = np.asarray([row["x"] for row in rows], dtype=np.float32)
    y = np.asarray([row["y"] for row in rows], dtype=np.float64)
    schema = SourceSchema(
        "jsonl", [f"x{i}" for i in range(x.shape[1])], (x.shape[1],), "float32", "y", None, None, None
    )
    n = options.chunk_rows
    return schema, (Chunk(x[i : i + n], y[i : i + n]) for i in range(0, len(x), n))


def inspect_input(
    path: Path, *, id_column: str | None, input_shape: Sequence[int], trained_names: Sequence[str] | None
) -> InputLayout:
    return InputLayout(
        "jsonl", ["x"], list(input_shape), id_column, "int64" if id_column else None, len(_rows(path))
    )


def read_rows(path: Path, layout: InputLayout, *, chunk_rows: int, skip_chunks: int) -> Iterator[InputChunk]:
    rows = _rows(path)[skip_chunks * chunk_rows :]
    for start in range(0, len(rows), chunk_rows):
        block = rows[start : start + chunk_rows]
        ids = pa.array([row[layout.id_column] for row in block]) if layout.id_column else None
        yield np.asarray([row["x"] for row in block], dtype=np.float32), ids

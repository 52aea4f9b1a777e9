"""Read a whole source back through `open_source`, checking every chunk keeps the contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from modelplane.data.sources import Chunk, SourceSchema, open_source


def read_all(
    source: Path | str, chunk_rows: int = 65_536, **options: object
) -> tuple[SourceSchema, list[Chunk]]:
    schema, chunks = open_source(str(source), chunk_rows=chunk_rows, **options)  # type: ignore[arg-type]
    collected = list(chunks)
    for chunk in collected:
        assert 0 < len(chunk.features) <= chunk_rows
        assert chunk.features.dtype == np.dtype(schema.feature_dtype)
        assert chunk.features.shape[1:] == schema.feature_shape
        assert chunk.features.flags.c_contiguous
        assert chunk.target is None or chunk.target.shape == (len(chunk.features),)
    return schema, collected


def stacked(chunks: list[Chunk]) -> tuple[np.ndarray, np.ndarray | None]:
    x = np.concatenate([c.features for c in chunks])
    targets = [c.target for c in chunks if c.target is not None]
    return x, (np.concatenate(targets) if targets else None)

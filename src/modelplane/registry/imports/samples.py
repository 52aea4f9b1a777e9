"""The rows an import is checked on: the reference file's first rows where one is given, else zeros."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from modelplane.errors import Invalid

_REFERENCE_CHECK_ROWS = 1


def read_reference(path: Path) -> np.ndarray:
    """Every row of a parquet file of numeric feature columns, as float32 (N, columns)."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow's ArrowInvalid and OSError: not a parquet file
        raise Invalid(
            f"reference {Path(path).name} is not a readable parquet file ({exc}); give one"
        ) from None
    if table.num_rows == 0:
        raise Invalid(f"reference {Path(path).name} has no rows; give rows like the model's inputs")
    bad = [f.name for f in table.schema if not _numeric(f.type)]
    if bad:
        raise Invalid(
            f"reference {Path(path).name} has non-numeric columns ({', '.join(bad[:5])}); give the model's "
            "numeric feature columns only"
        )
    columns = [np.asarray(c.to_numpy(zero_copy_only=False), dtype=np.float32) for c in table.columns]
    return np.stack(columns, axis=1)


def _numeric(kind: object) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind))


def shaped(reference: np.ndarray, shape: list[int], name: str = "the reference") -> np.ndarray:
    """`reference` rows as the model's (N, *shape); Invalid where their width differs."""
    width = math.prod(shape)
    if reference.shape[1] != width:
        raise Invalid(
            f"{name} has {reference.shape[1]} columns but the model takes {width} values per row "
            f"(shape {shape}); give rows with the model's features"
        )
    return reference.reshape(len(reference), *shape)


def sample_rows(shape: list[int], reference: np.ndarray | None) -> tuple[np.ndarray, str]:
    """What the import runs the model on, and how the version's lineage names it."""
    if reference is None:
        return np.zeros((1, *shape), np.float32), "one row of zeros"
    return shaped(reference[:_REFERENCE_CHECK_ROWS], shape), "the reference's first row"

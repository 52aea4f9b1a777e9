"""Rows to predict (batch prediction's input), whatever the file's format, streamed in chunks of a fixed
number of rows; each format's module in data/formats/ reads them (registry.InputReader).

`inspect_input` checks a file when its job is submitted: columns against the model's input (by name when
the file uses the names the model was trained on, else by count), their types, the id column, and that
there are rows at all. `read_chunks` then streams float32 feature blocks with their ids, so memory follows
the chunk size and not the file's; a resumed job starts right after the chunks it committed (Parquet skips
whole row groups without reading them).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modelplane.data.formats.registry import FORMATS, check_batch_input
from modelplane.errors import NotFound

if TYPE_CHECKING:
    import pyarrow as pa

    from modelplane.store import Store

InputChunk = tuple[np.ndarray, "pa.Array | None"]  # features (n, *input_shape) float32, ids or None


@dataclass(frozen=True)
class InputLayout:
    """What `read_chunks` needs, fixed at submit time and stored with the job."""

    format: str
    features: list[str]  # feature columns in the model's order; for NPZ the features array's key
    input_shape: list[int]
    id_column: str | None
    id_type: str | None  # "int64", "float64" or "string"
    rows: int | None  # known up front for Parquet and NPZ
    ignored: list[str] = field(default_factory=list)  # columns the model does not read (the target, ...)
    # A model with preprocessing reads raw columns by role (feature name -> role); chunks are then
    # structured rows (tables/signature.py) rather than float32.
    roles: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def inspect_input(
    path: Path,
    *,
    id_column: str | None,
    input_shape: Sequence[int],
    trained_names: Sequence[str] | None,
    roles: Mapping[str, str] | None = None,
) -> InputLayout:
    """Check the file against the model before any work is queued; every problem is an Invalid that
    names it and its fix. `roles`: a model with preprocessing's columns (name -> role), read raw."""
    reader = check_batch_input(path).input_reader()
    # `roles` only where a model has preprocessing, so a format that reads numbers alone needs no change.
    extra = {"roles": roles} if roles is not None else {}
    return reader.inspect_input(
        path, id_column=id_column, input_shape=input_shape, trained_names=trained_names, **extra
    )


def read_chunks(
    path: Path, layout: InputLayout, *, chunk_rows: int, skip_chunks: int = 0
) -> Iterator[InputChunk]:
    """Chunks of `chunk_rows` rows (the last may be shorter), starting after `skip_chunks` of them."""
    reader = FORMATS[layout.format].input_reader()
    yield from reader.read_rows(path, layout, chunk_rows=chunk_rows, skip_chunks=skip_chunks)


_NAMED_FORMATS = ("csv", "parquet", "builtin")  # datasets whose column names are the users' own

if TYPE_CHECKING:
    from modelplane.data.catalog import DatasetVersionInfo


def column_names(version: DatasetVersionInfo) -> list[str] | None:
    """The names rows to predict are matched by for a model trained on `version`; None for arrays, whose
    columns have no names of the user's."""
    return list(version.feature_names) if version.format in _NAMED_FORMATS else None


def trained_column_names(store: Store, dataset: str | None) -> list[str] | None:
    """`column_names` of the dataset version a model was trained on; None when it is no longer in the
    catalog."""
    if dataset is None:
        return None
    from modelplane.data.catalog import get_version

    try:
        return column_names(get_version(store, dataset))
    except NotFound:
        return None

"""Open a dataset source as a schema plus a stream of bounded chunks, whatever its format.

Everything checkable without reading the data is checked before `open_source` returns, so a bad
command fails fast; problems inside the data surface from the iterator as `Invalid`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelplane.errors import Invalid, NotFound

BUILTIN_PREFIX = "builtin:"
SUPPORTED = (
    ".csv .tsv .parquet .npz, IDX files (*-ubyte, *.idx[1-3], optionally .gz), "
    "a folder of images (one sub-folder per class), builtin:NAME"
)
_IDX_NAME = re.compile(r"(-ubyte|\.idx[1-3])(\.gz)?$", re.IGNORECASE)
_TABULAR = ("csv", "parquet")


@dataclass(frozen=True)
class SourceSchema:
    """What every chunk of a source looks like, known before any data is read."""

    format: str
    feature_names: list[str]
    feature_shape: tuple[int, ...]
    feature_dtype: str
    target_name: str | None
    image_shape: tuple[int, int, int] | None
    class_names: list[str] | None
    task_hint: str | None


@dataclass
class Chunk:
    """At most `chunk_rows` samples; features (n, *feature_shape), target (n,) or None."""

    features: np.ndarray
    target: np.ndarray | None


def open_source(
    source: str,
    *,
    target: str | None = None,
    chunk_rows: int = 65_536,
    drop_na: bool = False,
    drop_columns: Sequence[str] = (),
    image_size: tuple[int, int] | None = None,
    image_mode: str | None = None,
) -> tuple[SourceSchema, Iterator[Chunk]]:
    """Validate `source` and return its schema and a lazy iterator of chunks of <= chunk_rows rows."""
    if chunk_rows < 1:
        raise Invalid(f"chunk_rows must be at least 1, got {chunk_rows}; pass a positive --chunk-rows")
    fmt = _detect_format(source)
    _check_options(fmt, drop_columns, image_size, image_mode)
    # Format modules are imported on demand: pyarrow, Pillow and scikit-learn are slow to import.
    if fmt == "builtin":
        from modelplane.data.formats.builtin import open_builtin

        return open_builtin(source[len(BUILTIN_PREFIX) :], chunk_rows=chunk_rows)
    path = Path(source)
    if fmt == "csv":
        from modelplane.data.formats.delimited import open_csv

        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        return open_csv(
            path,
            delimiter=delimiter,
            target=target,
            chunk_rows=chunk_rows,
            drop_na=drop_na,
            drop_columns=list(drop_columns),
        )
    if fmt == "parquet":
        from modelplane.data.formats.parquet import open_parquet

        return open_parquet(
            path, target=target, chunk_rows=chunk_rows, drop_na=drop_na, drop_columns=list(drop_columns)
        )
    if fmt == "npz":
        from modelplane.data.formats.npz import open_npz

        return open_npz(path, target=target, chunk_rows=chunk_rows, drop_na=drop_na)
    if fmt == "idx":
        from modelplane.data.formats.idx import open_idx

        return open_idx(path, labels=target, chunk_rows=chunk_rows)
    from modelplane.data.formats.images import open_image_folder

    return open_image_folder(path, chunk_rows=chunk_rows, image_size=image_size, image_mode=image_mode)


def _detect_format(source: str) -> str:
    """Name the format from the source string alone (plus whether it is a folder)."""
    if source.startswith(BUILTIN_PREFIX):
        return "builtin"
    path = Path(source)
    if not path.exists():
        raise NotFound(
            f"no such file or folder: '{source}'; check the path (builtin datasets are named builtin:NAME)"
        )
    if path.is_dir():
        return "images"
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix == ".npz":
        return "npz"
    if _IDX_NAME.search(path.name):
        return "idx"
    raise Invalid(f"unknown format for '{source}'; supported: {SUPPORTED}")


def _check_options(
    fmt: str,
    drop_columns: Sequence[str],
    image_size: tuple[int, int] | None,
    image_mode: str | None,
) -> None:
    """Refuse options the format cannot honour rather than ignoring them."""
    if drop_columns and fmt not in _TABULAR:
        raise Invalid(f"--drop applies to CSV and Parquet columns only; remove it for this {fmt} source")
    if fmt != "images" and (image_size is not None or image_mode is not None):
        raise Invalid(
            f"--image-size/--image-mode apply to image folders only; remove them for this {fmt} source"
        )
    if image_mode is not None and image_mode not in ("L", "RGB"):
        raise Invalid(f"image mode '{image_mode}' is not supported; pass --image-mode L or --image-mode RGB")
    if image_size is not None and (len(image_size) != 2 or min(image_size) < 1):
        raise Invalid(f"image size {image_size} is not valid; pass --image-size as two positive ints W H")

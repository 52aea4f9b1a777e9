"""Open a dataset source as a schema plus a stream of bounded chunks, whatever its format.

Everything checkable without reading the data is checked before `open_source` returns, so a bad
command fails fast; problems inside the data surface from the iterator as `Invalid`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelplane.data.formats.registry import DataFormat, described_formats, format_of
from modelplane.errors import Invalid, NotFound

BUILTIN_PREFIX = "builtin:"
FEEDBACK_PREFIX = "feedback:"  # a deployment's labelled predictions (data/from_feedback.py)
_BUILTIN = DataFormat("builtin", "modelplane.data.formats.builtin")  # named by the prefix, not a file


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


@dataclass(frozen=True)
class SourceOptions:
    """How to read a source; each format reads the options it honours (`open_source` refuses the others)."""

    target: str | None = None
    chunk_rows: int = 65_536
    drop_na: bool = False
    drop_columns: tuple[str, ...] = ()
    image_size: tuple[int, int] | None = None
    image_mode: str | None = None


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
    fmt = detect_format(source)
    options = SourceOptions(target, chunk_rows, drop_na, tuple(drop_columns), image_size, image_mode)
    check_options(fmt, options)
    # Format modules are imported on demand: pyarrow, Pillow and scikit-learn are slow to import.
    if fmt is _BUILTIN:
        from modelplane.data.formats.builtin import open_builtin

        return open_builtin(source[len(BUILTIN_PREFIX) :], chunk_rows=chunk_rows)
    return fmt.reader().open_source(Path(source), options)


def detect_format(source: str) -> DataFormat:
    """Name the format from the source string alone (plus whether it is a folder)."""
    if source.startswith(BUILTIN_PREFIX):
        return _BUILTIN
    path = Path(source)
    if not path.exists():
        raise NotFound(
            f"no such file or folder: '{source}'; check the path (builtin datasets are named builtin:NAME)"
        )
    fmt = format_of(path)
    if fmt is None:
        raise Invalid(
            f"unknown format for '{source}'; supported: {described_formats()}, {BUILTIN_PREFIX}NAME"
        )
    return fmt


def check_options(fmt: DataFormat, options: SourceOptions) -> None:
    """Refuse options the format cannot honour rather than ignoring them."""
    if options.drop_columns and not fmt.named_columns:
        raise Invalid(f"--drop applies to CSV and Parquet columns only; remove it for this {fmt.name} source")
    image_size, image_mode = options.image_size, options.image_mode
    if not fmt.image_options and (image_size is not None or image_mode is not None):
        raise Invalid(
            f"--image-size/--image-mode apply to image folders only; remove them for this {fmt.name} source"
        )
    if image_mode is not None and image_mode not in ("L", "RGB"):
        raise Invalid(f"image mode '{image_mode}' is not supported; pass --image-mode L or --image-mode RGB")
    if image_size is not None and (len(image_size) != 2 or min(image_size) < 1):
        raise Invalid(f"image size {image_size} is not valid; pass --image-size as two positive ints W H")

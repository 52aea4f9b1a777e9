"""Format readers behind `modelplane.data.sources.open_source`, plus the rules they share.

Rows in messages are counted from 1 over the data rows of the source (a CSV header is not a row).
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Sequence
from io import BufferedIOBase
from typing import IO

import numpy as np

from modelplane.errors import Invalid

_LISTED = 20


class BadValue(Invalid):
    """A value its column's type cannot hold, found while reading: the column, the row and the value, so
    that whoever knows the column's role can say how to fix it."""

    def __init__(self, column: str, row: int, value: str, expected: str) -> None:
        super().__init__(f"column '{column}' row {row}: '{value}' is not {expected}")
        self.column, self.row, self.value, self.expected = column, row, value, expected


def listing(names: Sequence[str]) -> str:
    """Comma-separated names, shortened for wide files so the message stays one readable line."""
    shown = ", ".join(names[:_LISTED])
    return shown if len(names) <= _LISTED else f"{shown}, ... ({len(names) - _LISTED} more)"


def keep_rows(
    missing: dict[str, np.ndarray], *, first_row: int, drop_na: bool, what: str
) -> np.ndarray | None:
    """Rows to keep given per-column missing masks; None when nothing is missing.

    Without drop_na, missing values are an error naming the column whose first gap comes first.
    """
    missing = {name: mask for name, mask in missing.items() if mask.any()}
    if not missing:
        return None
    if not drop_na:
        name, mask = min(missing.items(), key=lambda item: int(np.argmax(item[1])))
        count = int(mask.sum())
        plural = "value" if count == 1 else "values"
        last_row = first_row + len(mask) - 1
        raise Invalid(
            f"{what} '{name}' has {count} missing {plural} in rows {first_row}-{last_row} "
            f"(first at row {first_row + int(np.argmax(mask))}); "
            "clean the file or pass --drop-na to drop those rows"
        )
    dropped: np.ndarray = np.logical_or.reduce(list(missing.values()))
    return ~dropped


def nan_rows(values: np.ndarray) -> np.ndarray:
    """Per-row flag: any NaN anywhere in the sample (float data only carries NaN)."""
    if values.dtype.kind != "f":
        return np.zeros(len(values), dtype=bool)
    flags: np.ndarray = np.isnan(values.reshape(len(values), -1)).any(axis=1)
    return flags


def tensor_layout(row_shape: tuple[int, ...]) -> tuple[list[str], tuple[int, int, int] | None]:
    """Feature names and image view for array data: flat rows get names, (H, W) / (C, H, W) are images."""
    if len(row_shape) == 1:
        return [f"feature_{i}" for i in range(row_shape[0])], None
    if len(row_shape) == 2:
        return [], (1, row_shape[0], row_shape[1])
    if len(row_shape) == 3 and row_shape[0] in (1, 3):
        return [], (row_shape[0], row_shape[1], row_shape[2])
    return [], None


def read_exact(stream: IO[bytes] | BufferedIOBase, size: int, *, file_name: str, fix: str) -> bytes:
    """Read exactly `size` bytes; a short read means the file ends before its header says it should."""
    try:
        data = stream.read(size)
    except (EOFError, OSError, zlib.error, zipfile.BadZipFile) as exc:
        raise Invalid(f"{file_name} is corrupt or truncated ({exc}); {fix}") from exc
    if len(data) != size:
        raise Invalid(f"{file_name} ends before all records its header announces were read; {fix}")
    return data

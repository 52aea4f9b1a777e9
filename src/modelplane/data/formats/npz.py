"""NPZ archives: features and an optional target (or, to predict, id) array, streamed row block by row block,
as a dataset source and as rows to predict.

Each member is read straight from the zip stream after its .npy header, so memory follows chunk_rows
rather than the array size (Fortran-ordered arrays, stored column-major, are the one exception).
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

import numpy as np

from modelplane.data.formats import keep_rows, listing, nan_rows, read_exact, tensor_layout
from modelplane.data.inputs import InputChunk, InputLayout
from modelplane.data.sources import Chunk, SourceOptions, SourceSchema
from modelplane.errors import Invalid

FEATURE_KEYS = ("X", "x", "features", "data", "images")
TARGET_KEYS = ("y", "target", "targets", "labels")
_FIX = "save it again with numpy.savez"


class _Member:
    """One array of the archive: its header up front, then rows read in order."""

    def __init__(self, archive: zipfile.ZipFile, key: str, file_name: str) -> None:
        self.key = key
        self._label = f"array '{key}' of {file_name}"
        self._stream: IO[bytes] = archive.open(f"{key}.npy")
        try:
            version = np.lib.format.read_magic(self._stream)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(self._stream)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(self._stream)
        except ValueError as exc:
            raise Invalid(f"cannot read {self._label} ({exc}); {_FIX}") from exc
        if dtype.hasobject:
            raise Invalid(f"{self._label} holds Python objects; save numbers or numpy strings instead")
        if not shape:
            raise Invalid(f"{self._label} is a scalar; save one row per sample")
        self.dtype: np.dtype = dtype
        self.rows: int = shape[0]
        self.row_shape: tuple[int, ...] = tuple(shape[1:])
        self._fortran: bool = fortran
        self._whole: np.ndarray | None = None

    def close(self) -> None:
        self._stream.close()

    def _nbytes(self, rows: int) -> int:
        return rows * math.prod(self.row_shape) * self.dtype.itemsize

    def read(self, start: int, rows: int) -> np.ndarray:
        """Rows start..start+rows, read in order; a view of the bytes read, never a second copy."""
        if self._fortran:
            if self._whole is None:
                raw = read_exact(self._stream, self._nbytes(self.rows), file_name=self._label, fix=_FIX)
                self._whole = np.frombuffer(raw, dtype=self.dtype).reshape(
                    (self.rows, *self.row_shape), order="F"
                )
            return self._whole[start : start + rows]
        raw = read_exact(self._stream, self._nbytes(rows), file_name=self._label, fix=_FIX)
        return np.frombuffer(raw, dtype=self.dtype).reshape((rows, *self.row_shape))


def open_source(path: Path, options: SourceOptions) -> tuple[SourceSchema, Iterator[Chunk]]:
    """Pick the feature and target arrays by key and check their headers before streaming."""
    with ExitStack() as stack:
        archive = stack.enter_context(_archive(path))
        keys = [name[: -len(".npy")] for name in archive.namelist() if name.endswith(".npy")]
        feature_key = next((key for key in FEATURE_KEYS if key in keys), None)
        if feature_key is None:
            raise Invalid(
                f"no features array in {path.name}; arrays are: {', '.join(keys) or 'none'}; "
                f"save the features under one of: {', '.join(FEATURE_KEYS)}"
            )
        target_key = _target_key(options.target, keys, feature_key, path.name)
        features, labels = _members(stack, archive, feature_key, target_key, path.name)
    if features.dtype.kind not in "biuf":
        raise Invalid(
            f"array '{feature_key}' of {path.name} holds {features.dtype}; features must be numbers"
        )
    if labels is not None:
        if labels.dtype.kind not in "biufUS" or labels.row_shape not in ((), (1,)):
            raise Invalid(
                f"target array '{labels.key}' of {path.name} has shape {(labels.rows, *labels.row_shape)} "
                f"and dtype {labels.dtype}; "
                "save one number or string per sample"
            )
        if labels.rows != features.rows:
            raise Invalid(
                f"array '{feature_key}' has {features.rows} rows but target '{labels.key}' has {labels.rows} "
                f"in {path.name}; save one target per sample"
            )
    row_shape = features.row_shape or (1,)
    names, image_shape = tensor_layout(row_shape)
    schema = SourceSchema(
        format="npz",
        feature_names=names,
        feature_shape=row_shape,
        feature_dtype="uint8" if features.dtype == np.uint8 else "float32",
        target_name=target_key,
        image_shape=image_shape,
        class_names=None,
        task_hint=None,
    )
    return schema, _stream(path, feature_key, target_key, schema, options.chunk_rows, options.drop_na)


def _archive(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise Invalid(f"cannot open {path.name} as an .npz archive ({exc}); {_FIX}") from exc


def _members(
    stack: ExitStack, archive: zipfile.ZipFile, feature_key: str, target_key: str | None, file_name: str
) -> tuple[_Member, _Member | None]:
    """Open the feature (and target) members, closed with `stack`."""
    features = _Member(archive, feature_key, file_name)
    stack.callback(features.close)
    if target_key is None:
        return features, None
    labels = _Member(archive, target_key, file_name)
    stack.callback(labels.close)
    return features, labels


def _target_key(target: str | None, keys: list[str], feature_key: str, file_name: str) -> str | None:
    if target is None:
        return next((key for key in TARGET_KEYS if key in keys), None)
    if target not in keys:
        raise Invalid(
            f"target array '{target}' not found in {file_name}; arrays are: {', '.join(keys)} "
            "(pass --target NAME)"
        )
    if target == feature_key:
        raise Invalid(f"array '{target}' of {file_name} holds the features; pass another --target")
    return target


def _stream(
    path: Path,
    feature_key: str,
    target_key: str | None,
    schema: SourceSchema,
    chunk_rows: int,
    drop_na: bool,
) -> Iterator[Chunk]:
    with ExitStack() as stack:
        archive = stack.enter_context(_archive(path))
        features, labels = _members(stack, archive, feature_key, target_key, path.name)
        for start in range(0, features.rows, chunk_rows):
            rows = min(chunk_rows, features.rows - start)
            x = (
                features.read(start, rows)
                .astype(schema.feature_dtype, order="C")
                .reshape((rows, *schema.feature_shape))
            )
            missing = {feature_key: nan_rows(x)}
            y = None
            if labels is not None:
                y = _target_values(labels.read(start, rows).reshape(rows))
                missing[labels.key] = nan_rows(y)
            keep = keep_rows(missing, first_row=start + 1, drop_na=drop_na, what="array")
            if keep is not None:
                if not keep.any():
                    continue
                x = x[keep]
                y = None if y is None else y[keep]
            yield Chunk(features=x, target=y)


def _target_values(values: np.ndarray) -> np.ndarray:
    """float64 for numbers, str for text and for bools (they name two classes, as in CSV/Parquet)."""
    if values.dtype.kind == "b":
        return np.where(values, "true", "false")
    if values.dtype.kind in "US":
        return values.astype(np.str_)
    return values.astype(np.float64)


def inspect_input(
    path: Path,
    *,
    id_column: str | None,
    input_shape: Sequence[int],
    trained_names: Sequence[str] | None,
    roles: Mapping[str, str] | None = None,
) -> InputLayout:
    """The features array by key (NPZ has no column names, so `trained_names` play no part) and the id
    array, from the .npy headers alone."""
    input_shape = list(input_shape)
    arrays = _npz_headers(path)
    key = next((k for k in FEATURE_KEYS if k in arrays), None)
    if key is None:
        raise Invalid(
            f"no features array in {path.name}; its arrays are {listing(list(arrays)) or 'none'}: "
            f"save the rows under one of {', '.join(FEATURE_KEYS)}"
        )
    shape, dtype = arrays[key]
    if dtype.kind not in "biuf":
        raise Invalid(f"array '{key}' of {path.name} holds {dtype}; the model reads numbers")
    if not shape or shape[0] == 0:
        raise Invalid(f"{path.name} holds no rows to predict")
    values = math.prod(shape[1:]) if len(shape) > 1 else 1
    if values != math.prod(input_shape):
        raise Invalid(
            f"array '{key}' of {path.name} has rows of shape {list(shape[1:])} but the model reads "
            f"{input_shape}"
        )
    id_type = None
    if id_column is not None:
        if id_column not in arrays or id_column == key:
            raise Invalid(
                f"id array '{id_column}' not found in {path.name}; its arrays are {listing(list(arrays))} "
                "(fix --id-column)"
            )
        id_shape, id_dtype = arrays[id_column]
        if id_shape[:1] != shape[:1] or math.prod(id_shape[1:]) != 1 or id_dtype.kind not in "iufUS":
            raise Invalid(
                f"id array '{id_column}' of {path.name} must hold one number or string per row "
                f"({shape[0]} rows); it has shape {list(id_shape)} and dtype {id_dtype}"
            )
        id_type = {"i": "int64", "u": "int64", "f": "float64"}.get(id_dtype.kind, "string")
    return InputLayout("npz", [key], input_shape, id_column, id_type, int(shape[0]))


def _npz_headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype[Any]]]:
    """Shape and dtype of every array, from the .npy headers alone."""
    headers = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if not member.endswith(".npy"):
                    continue
                with archive.open(member) as stream:
                    version = np.lib.format.read_magic(stream)
                    read = (
                        np.lib.format.read_array_header_1_0
                        if version == (1, 0)
                        else np.lib.format.read_array_header_2_0
                    )
                    shape, _, dtype = read(stream)
                headers[member.removesuffix(".npy")] = (tuple(shape), dtype)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise Invalid(
            f"cannot read {path.name} as an .npz archive ({exc}); save it with numpy.savez"
        ) from exc
    return headers


def read_rows(path: Path, layout: InputLayout, *, chunk_rows: int, skip_chunks: int) -> Iterator[InputChunk]:
    import pyarrow as pa  # only for the ids; reading an NPZ dataset source needs no pyarrow

    _, chunks = open_source(path, SourceOptions(target=layout.id_column, chunk_rows=chunk_rows))
    for index, chunk in enumerate(chunks):
        if index < skip_chunks:
            continue
        x = np.asarray(chunk.features, dtype=np.float32).reshape((len(chunk.features), *layout.input_shape))
        ids = None
        if layout.id_column is not None:
            assert chunk.target is not None
            ids = pa.array(chunk.target.astype(np.int64) if layout.id_type == "int64" else chunk.target)
        yield x, ids

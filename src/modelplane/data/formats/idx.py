"""IDX files (the MNIST format), plain or gzip'd: images streamed record by record, labels alongside.

A plain file's size is checked against its header up front; a gzip'd one can only be checked while
it is decompressed, so its truncation surfaces from the iterator.
"""

from __future__ import annotations

import gzip
import math
import struct
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from io import BufferedIOBase
from pathlib import Path

import numpy as np

from modelplane.data.formats import read_exact, tensor_layout
from modelplane.data.sources import Chunk, SourceOptions, SourceSchema
from modelplane.errors import Invalid, NotFound

_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_FIX = "download or export the file again"


@dataclass(frozen=True)
class _Header:
    path: Path
    dtype: np.dtype
    dims: tuple[int, ...]

    @property
    def size(self) -> int:
        """Bytes before the first record: magic (4) plus one uint32 per dimension."""
        return 4 + 4 * len(self.dims)

    @property
    def record_bytes(self) -> int:
        return math.prod(self.dims[1:]) * self.dtype.itemsize


def open_source(path: Path, options: SourceOptions) -> tuple[SourceSchema, Iterator[Chunk]]:
    """`path` holds the samples; labels come from the file `options.target` names or from the '*labels*'
    sibling if one exists."""
    images = _read_header(path)
    if len(images.dims) < 2:
        raise Invalid(
            f"{path.name} is a 1-d IDX file (labels?); "
            "pass the images file as the source and this one as --target"
        )
    labels_header = None
    labels_file = labels_path(path, options.target)
    if labels_file is not None:
        labels_header = _read_header(labels_file)
        if len(labels_header.dims) != 1:
            raise Invalid(
                f"{labels_file.name} has {len(labels_header.dims)} dimensions, labels need 1; "
                "pass the labels IDX file (e.g. train-labels-idx1-ubyte) as --target"
            )
        if labels_header.dims[0] != images.dims[0]:
            raise Invalid(
                f"{path.name} has {images.dims[0]} records but {labels_file.name} has "
                f"{labels_header.dims[0]} labels; pass the labels file that belongs to these images"
            )
    row_shape = images.dims[1:]
    names, image_shape = tensor_layout(row_shape)
    schema = SourceSchema(
        format="idx",
        feature_names=names,
        feature_shape=row_shape,
        feature_dtype="uint8" if images.dtype == np.uint8 else "float32",
        target_name=None if labels_file is None else "label",
        image_shape=image_shape,
        class_names=None,
        task_hint=None,
    )
    return schema, _stream(images, labels_header, schema, options.chunk_rows)


def labels_path(images: Path, labels: str | None) -> Path | None:
    """The labels file of an IDX images file: `labels` when given, else a sibling named like it."""
    if labels is not None:
        path = Path(labels)
        if not path.is_file():
            raise NotFound(
                f"labels file '{labels}' not found; pass the path of the labels IDX file with --target"
            )
        return path
    if "images" not in images.name:
        return None
    base = images.name.replace("images", "labels")
    names = [base, base.replace("idx3", "idx1")]
    names += [name[: -len(".gz")] if name.endswith(".gz") else f"{name}.gz" for name in names]
    return next((images.with_name(name) for name in names if images.with_name(name).is_file()), None)


def _open(path: Path) -> BufferedIOBase:
    if path.suffix.lower() == ".gz":
        return gzip.GzipFile(path, "rb")
    return path.open("rb")


def _read_header(path: Path) -> _Header:
    """Magic, dimensions and, for a plain file, size; all checked before any record is read."""
    with _open(path) as stream:
        magic = read_exact(stream, 4, file_name=path.name, fix=_FIX)
        if magic[0] != 0 or magic[1] != 0 or magic[2] not in _DTYPES or magic[3] == 0:
            raise Invalid(
                f"{path.name} is not an IDX file (magic bytes {magic.hex()}); "
                "pass an IDX file such as train-images-idx3-ubyte, optionally .gz"
            )
        raw_dims = read_exact(stream, 4 * magic[3], file_name=path.name, fix=_FIX)
    header = _Header(path=path, dtype=_DTYPES[magic[2]], dims=struct.unpack(f">{magic[3]}I", raw_dims))
    if path.suffix.lower() != ".gz":
        expected = header.size + header.dims[0] * header.record_bytes
        actual = path.stat().st_size
        if actual != expected:
            raise Invalid(
                f"{path.name} has {actual} bytes but its header {header.dims} announces {expected}; "
                f"the file is truncated or damaged: {_FIX}"
            )
    return header


def _stream(
    images: _Header, labels: _Header | None, schema: SourceSchema, chunk_rows: int
) -> Iterator[Chunk]:
    out_dtype = np.dtype(schema.feature_dtype)
    with ExitStack() as stack:
        x_stream = stack.enter_context(_open(images.path))
        read_exact(x_stream, images.size, file_name=images.path.name, fix=_FIX)
        y_stream = None
        if labels is not None:
            y_stream = stack.enter_context(_open(labels.path))
            read_exact(y_stream, labels.size, file_name=labels.path.name, fix=_FIX)
        total = images.dims[0]
        for start in range(0, total, chunk_rows):
            rows = min(chunk_rows, total - start)
            raw = read_exact(x_stream, rows * images.record_bytes, file_name=images.path.name, fix=_FIX)
            x = (
                np.frombuffer(raw, dtype=images.dtype)
                .reshape((rows, *schema.feature_shape))
                .astype(out_dtype)
            )
            y = None
            if labels is not None and y_stream is not None:
                raw = read_exact(y_stream, rows * labels.record_bytes, file_name=labels.path.name, fix=_FIX)
                y = np.frombuffer(raw, dtype=labels.dtype).astype(np.float64)
            yield Chunk(features=x, target=y)

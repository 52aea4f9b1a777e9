"""A folder of images, one sub-folder per class: decoded to uint8 (C, H, W) arrays chunk by chunk.

Only file names are listed up front; pixels are decoded when their chunk is read, so memory follows
chunk_rows, not the folder size.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from modelplane.data.sources import Chunk, SourceOptions, SourceSchema
from modelplane.errors import Invalid

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
_GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "F"})


def open_source(root: Path, options: SourceOptions) -> tuple[SourceSchema, Iterator[Chunk]]:
    """List classes and files, and fix mode and size from the first image unless given."""
    image_size, image_mode = options.image_size, options.image_mode
    classes = sorted(
        entry.name for entry in root.iterdir() if entry.is_dir() and not entry.name.startswith(".")
    )
    if not classes:
        raise Invalid(
            f"folder '{root}' has no class sub-folders; put the images in one sub-folder per class "
            "(e.g. cats/, dogs/)"
        )
    files: list[tuple[Path, str]] = []
    for name in classes:
        found = sorted(
            (
                entry
                for entry in (root / name).iterdir()
                if entry.is_file() and entry.suffix.lower() in SUFFIXES
            ),
            key=lambda entry: entry.name,
        )
        if not found:
            raise Invalid(
                f"class folder '{root / name}' holds no images ({' '.join(SUFFIXES)}); "
                "add images or remove it"
            )
        files += [(entry, name) for entry in found]
    first = files[0][0]
    try:
        with Image.open(first) as probe:
            mode = image_mode or ("L" if probe.mode in _GRAY_MODES else "RGB")
            width, height = image_size or probe.size
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise Invalid(f"cannot read image '{first}' ({exc}); fix or remove the file") from exc
    channels = 1 if mode == "L" else 3
    shape = (channels, height, width)
    schema = SourceSchema(
        format="images",
        feature_names=[],
        feature_shape=shape,
        feature_dtype="uint8",
        target_name="class",
        image_shape=shape,
        class_names=classes,
        task_hint="classification",
    )
    return schema, _stream(files, mode, (width, height), options.chunk_rows)


def _stream(
    files: list[tuple[Path, str]], mode: str, size: tuple[int, int], chunk_rows: int
) -> Iterator[Chunk]:
    channels = 1 if mode == "L" else 3
    for start in range(0, len(files), chunk_rows):
        batch = files[start : start + chunk_rows]
        x = np.empty((len(batch), channels, size[1], size[0]), dtype=np.uint8)
        for i, (path, _) in enumerate(batch):
            x[i] = _load(path, mode, size)
        yield Chunk(features=x, target=np.array([name for _, name in batch], dtype=np.str_))


def _load(path: Path, mode: str, size: tuple[int, int]) -> np.ndarray:
    """One image as (C, H, W): converted to `mode`, resized (bilinear) when its size differs."""
    try:
        with Image.open(path) as image:
            converted = image.convert(mode)
            if converted.size != size:
                converted = converted.resize(size, Image.Resampling.BILINEAR)
            pixels = np.asarray(converted, dtype=np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise Invalid(f"cannot read image '{path}' ({exc}); fix or remove the file") from exc
    return pixels[np.newaxis] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)

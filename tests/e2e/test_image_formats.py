"""Image-shaped data end to end: IDX (MNIST format) and image folders, uint8 features, CNN and MLP."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from PIL import Image

from modelplane.local import Local


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _two_shapes(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal vs vertical bars: learnable in one epoch."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    images = rng.integers(0, 40, (n, size, size))
    for i, label in enumerate(labels):
        row = rng.integers(2, size - 2)
        if label:
            images[i, row - 1 : row + 1, :] = 255
        else:
            images[i, :, row - 1 : row + 1] = 255
    return images.astype(np.uint8), labels


def test_idx_files_train_a_cnn(tmp_path: Path) -> None:
    images, labels = _two_shapes(200, 12, seed=0)
    _write_idx(tmp_path / "train-images-idx3-ubyte", images)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", labels)
    local = Local()
    version = local.datasets.add("bars", source=str(tmp_path / "train-images-idx3-ubyte")).version
    assert version.feature_dtype == "uint8" and version.feature_shape == [12, 12]
    assert version.image_shape == [1, 12, 12] and version.classes == ["0", "1"]
    run = local.train(data="bars", model="cnn", train={"epochs": 3, "augment": {"shift": 1}})
    assert run.metrics["test"]["accuracy"] >= 0.9


def test_image_folder_trains_an_mlp_and_exports(tmp_path: Path) -> None:
    images, labels = _two_shapes(80, 10, seed=1)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = tmp_path / "imgs" / ("vertical" if label == 0 else "horizontal")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image, mode="L").save(folder / f"{i:03d}.png")
    local = Local()
    version = local.datasets.add("shapes", source=str(tmp_path / "imgs")).version
    assert version.format == "images" and version.classes == ["horizontal", "vertical"]
    assert version.feature_shape == [1, 10, 10] and version.num_rows == 80
    run = local.train(data="shapes", model="mlp", train={"epochs": 5})
    assert run.status == "succeeded"
    paths = local.export(run.model_version or "", "onnx", tmp_path / "out")
    assert paths[0].suffix == ".onnx" and paths[0].stat().st_size > 0

"""open_source on image folders (one sub-folder per class) and on scikit-learn's builtin datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modelplane.data.sources import SourceSchema, open_source
from modelplane.errors import Invalid
from tests.data.source_helpers import read_all, stacked


def image_folder(root: Path, mode: str) -> Path:
    """cat/ holds 3 images of 4x6 (W x H) and one of 8x12; dog/ holds 2 of 4x6; pixels encode the index."""
    for cls, count in (("cat", 3), ("dog", 2)):
        (root / cls).mkdir(parents=True)
        for i in range(count):
            shape = (6, 4) if mode == "L" else (6, 4, 3)
            Image.fromarray(np.full(shape, 10 * i + (100 if cls == "dog" else 0), np.uint8), mode).save(
                root / cls / f"{i}.png"
            )
    Image.fromarray(np.full((12, 8), 200, np.uint8), "L").save(root / "cat" / "9.PNG")
    (root / "cat" / "notes.txt").write_text("not an image")
    return root


def test_grayscale_folder_resizes_and_orders(tmp_path: Path) -> None:
    root = image_folder(tmp_path / "imgs", "L")
    schema, chunks = read_all(root, chunk_rows=2)
    assert schema == SourceSchema(
        format="images",
        feature_names=[],
        feature_shape=(1, 6, 4),
        feature_dtype="uint8",
        target_name="class",
        image_shape=(1, 6, 4),
        class_names=["cat", "dog"],
        task_hint="classification",
    )
    x, y = stacked(chunks)
    assert [len(c.features) for c in chunks] == [2, 2, 2]
    assert y.tolist() == ["cat", "cat", "cat", "cat", "dog", "dog"]
    assert [int(v) for v in x[:, 0, 0, 0]] == [0, 10, 20, 200, 100, 110]


def test_rgb_folder_with_explicit_size_and_mode(tmp_path: Path) -> None:
    root = image_folder(tmp_path / "imgs", "RGB")
    schema, chunks = read_all(root)
    assert schema.feature_shape == (3, 6, 4) and schema.image_shape == (3, 6, 4)
    schema, chunks = read_all(root, image_size=(5, 3), image_mode="L")
    x, _ = stacked(chunks)
    assert schema.feature_shape == (1, 3, 5) and x.shape == (6, 1, 3, 5)
    with pytest.raises(Invalid, match="--image-mode L or --image-mode RGB"):
        open_source(str(root), image_mode="CMYK")


def test_unreadable_image_is_named(tmp_path: Path) -> None:
    root = image_folder(tmp_path / "imgs", "L")
    broken = root / "dog" / "5.jpg"
    broken.write_bytes(b"not a jpeg")
    _, chunks = open_source(str(root))
    with pytest.raises(Invalid, match=r"cannot read image '.*dog/5\.jpg'.*fix or remove the file"):
        list(chunks)


def test_folder_layout_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(Invalid, match="has no class sub-folders; put the images in one sub-folder per class"):
        open_source(str(empty))
    (empty / "cat").mkdir()
    with pytest.raises(Invalid, match=r"class folder '.*cat' holds no images.*add images or remove it"):
        open_source(str(empty))


def test_builtin_classification_datasets() -> None:
    schema, chunks = read_all("builtin:iris", chunk_rows=64)
    x, y = stacked(chunks)
    assert schema.format == "builtin" and schema.feature_shape == (4,) and x.shape == (150, 4)
    assert schema.feature_names[0] == "sepal length (cm)" and schema.target_name == "target"
    assert (
        schema.class_names == ["setosa", "versicolor", "virginica"] and schema.task_hint == "classification"
    )
    assert y.dtype.kind == "U" and y[0] == "setosa" and y[-1] == "virginica"
    schema, chunks = read_all("builtin:digits", chunk_rows=500)
    x, y = stacked(chunks)
    assert x.shape == (1797, 64) and x.dtype == np.float32 and schema.image_shape == (1, 8, 8)
    assert schema.feature_names[:2] == ["pixel_0_0", "pixel_0_1"]
    assert schema.class_names == [str(d) for d in range(10)] and y[:3].tolist() == ["0", "1", "2"]
    for name, classes in (("wine", 3), ("breast_cancer", 2)):
        schema, _ = open_source(f"builtin:{name}")
        assert schema.class_names is not None and len(schema.class_names) == classes


def test_builtin_regression_and_unknown() -> None:
    schema, chunks = read_all("builtin:diabetes", target="ignored")
    x, y = stacked(chunks)
    assert schema.task_hint == "regression" and schema.class_names is None and schema.target_name == "target"
    assert x.shape == (442, 10) and y.dtype == np.float64
    with pytest.raises(
        Invalid, match="unknown builtin dataset 'mnist'; known: breast_cancer, diabetes, digits"
    ):
        open_source("builtin:mnist")

"""open_source on array files: NPZ archives and IDX (MNIST-format) files, plain and gzip'd."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from modelplane.data.sources import open_source
from modelplane.errors import Invalid, NotFound
from tests.data.source_helpers import read_all, stacked

IDX_TYPES = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype(">i2"): 0x0B, np.dtype(">f4"): 0x0D}


def write_idx(path: Path, data: np.ndarray) -> Path:
    big_endian = data.astype(data.dtype.newbyteorder(">"))
    header = bytes([0, 0, IDX_TYPES[big_endian.dtype], data.ndim]) + struct.pack(
        f">{data.ndim}I", *data.shape
    )
    payload = header + big_endian.tobytes()
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)
    return path


# --- NPZ -------------------------------------------------------------------------------------


def test_npz_float_features_and_labels(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(103, 5))
    y = np.arange(103) % 4
    path = tmp_path / "d.npz"
    np.savez(path, X=x, y=y)
    schema, chunks = read_all(path, chunk_rows=25)
    assert schema.format == "npz" and schema.feature_shape == (5,) and schema.feature_dtype == "float32"
    assert schema.feature_names == [f"feature_{i}" for i in range(5)] and schema.target_name == "y"
    assert schema.image_shape is None
    got_x, got_y = stacked(chunks)
    assert np.array_equal(got_x, x.astype(np.float32))
    assert got_y is not None and got_y.dtype == np.float64 and np.array_equal(got_y, y)


def test_npz_uint8_images_keep_uint8_and_text_labels(tmp_path: Path) -> None:
    images = np.random.default_rng(1).integers(0, 256, size=(40, 6, 7), dtype=np.uint8)
    labels = np.array(["cat", "dog"] * 20)
    path = tmp_path / "imgs.npz"
    np.savez_compressed(path, images=images, labels=labels)
    schema, chunks = read_all(path, chunk_rows=16)
    assert schema.feature_dtype == "uint8" and schema.feature_shape == (6, 7)
    assert schema.feature_names == [] and schema.image_shape == (1, 6, 7)
    got_x, got_y = stacked(chunks)
    assert np.array_equal(got_x, images)
    assert got_y is not None and got_y.dtype.kind == "U" and got_y.tolist() == labels.tolist()


def test_npz_explicit_target_fortran_order_and_no_target(tmp_path: Path) -> None:
    x = np.asfortranarray(np.arange(60, dtype=np.int64).reshape(20, 3))
    path = tmp_path / "f.npz"
    np.savez(path, features=x, score=np.linspace(0, 1, 20), flag=np.arange(20) % 2 == 0)
    schema, chunks = read_all(path, chunk_rows=7, target="score")
    got_x, got_y = stacked(chunks)
    assert schema.target_name == "score" and np.array_equal(got_x, x)
    assert got_y is not None and np.allclose(got_y, np.linspace(0, 1, 20))
    schema, chunks = read_all(path)
    assert schema.target_name is None and all(c.target is None for c in chunks)
    _, chunks = read_all(path, target="flag")
    assert stacked(chunks)[1] is not None and stacked(chunks)[1][:2].tolist() == ["true", "false"]  # type: ignore[index]


def test_npz_key_and_length_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, inputs=np.zeros((3, 2)), y=np.zeros(3))
    with pytest.raises(Invalid) as err:
        open_source(str(path))
    assert "no features array in bad.npz; arrays are: inputs, y" in str(err.value)
    assert "X, x, features, data, images" in str(err.value)
    np.savez(path, X=np.zeros((3, 2)), y=np.zeros(4))
    with pytest.raises(Invalid, match=r"array 'X' has 3 rows but target 'y' has 4 in bad.npz"):
        open_source(str(path))
    with pytest.raises(
        Invalid, match=r"target array 'label' not found in bad.npz; arrays are: X, y \(pass --target"
    ):
        open_source(str(path), target="label")
    np.savez(path, X=np.zeros((3, 2)), y=np.zeros((3, 2)))
    with pytest.raises(
        Invalid, match=r"target array 'y' of bad.npz has shape \(3, 2\).*one number or string per"
    ):
        open_source(str(path))
    not_zip = tmp_path / "nz.npz"
    not_zip.write_bytes(b"nope")
    with pytest.raises(Invalid, match=r"cannot open nz.npz as an .npz archive"):
        open_source(str(not_zip))


def test_npz_nan_features_follow_missing_value_rules(tmp_path: Path) -> None:
    x = np.arange(12, dtype=np.float64).reshape(6, 2)
    x[4, 1] = np.nan
    path = tmp_path / "n.npz"
    np.savez(path, X=x, y=np.arange(6))
    with pytest.raises(
        Invalid, match=r"array 'X' has 1 missing value in rows 1-6 \(first at row 5\).*--drop-na"
    ):
        read_all(path)
    _, chunks = read_all(path, drop_na=True, chunk_rows=4)
    got_x, got_y = stacked(chunks)
    assert len(got_x) == 5 and got_y is not None and got_y.tolist() == [0, 1, 2, 3, 5]


# --- IDX -------------------------------------------------------------------------------------


def mnist_like(tmp_path: Path, n: int = 50, *, gz: str = "") -> tuple[np.ndarray, np.ndarray]:
    images = np.random.default_rng(2).integers(0, 256, size=(n, 5, 4), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    write_idx(tmp_path / f"train-images-idx3-ubyte{gz}", images)
    write_idx(tmp_path / f"train-labels-idx1-ubyte{gz}", labels)
    return images, labels


@pytest.mark.parametrize("gz", ["", ".gz"])
def test_idx_images_with_discovered_labels(tmp_path: Path, gz: str) -> None:
    images, labels = mnist_like(tmp_path, gz=gz)
    schema, chunks = read_all(tmp_path / f"train-images-idx3-ubyte{gz}", chunk_rows=16)
    assert schema.format == "idx" and schema.feature_shape == (5, 4) and schema.feature_dtype == "uint8"
    assert schema.image_shape == (1, 5, 4) and schema.feature_names == [] and schema.target_name == "label"
    assert [len(c.features) for c in chunks] == [16, 16, 16, 2]
    got_x, got_y = stacked(chunks)
    assert np.array_equal(got_x, images)
    assert got_y is not None and got_y.dtype == np.float64 and np.array_equal(got_y, labels)


def test_idx_explicit_labels_mixed_gzip_and_no_labels(tmp_path: Path) -> None:
    images = np.arange(30, dtype=np.int16).reshape(3, 10) - 5
    source = write_idx(tmp_path / "feats.idx2", images)
    labels = write_idx(tmp_path / "y.idx1.gz", np.array([1, 2, 3], dtype=np.uint8))
    schema, chunks = read_all(source, target=str(labels))
    assert schema.feature_dtype == "float32" and schema.feature_names[0] == "feature_0"
    got_x, got_y = stacked(chunks)
    assert np.array_equal(got_x, images) and got_y is not None and got_y.tolist() == [1, 2, 3]
    schema, chunks = read_all(source)
    assert schema.target_name is None and all(c.target is None for c in chunks)
    with pytest.raises(NotFound, match=r"labels file 'missing-idx1-ubyte' not found.*--target"):
        open_source(str(source), target="missing-idx1-ubyte")


def test_idx_truncated_and_bad_magic(tmp_path: Path) -> None:
    mnist_like(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(Invalid, match=r"train-images-idx3-ubyte has .* bytes but its header .* truncated"):
        open_source(str(path))
    gz = tmp_path / "t10k-images-idx3-ubyte.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    _, chunks = open_source(str(gz), chunk_rows=8)
    with pytest.raises(Invalid, match=r"t10k-images-idx3-ubyte.gz ends before all records"):
        list(chunks)
    bad = tmp_path / "bad-ubyte"
    bad.write_bytes(b"\x08\x00\x08\x03" + b"\x00" * 20)
    with pytest.raises(Invalid, match="bad-ubyte is not an IDX file"):
        open_source(str(bad))


def test_idx_label_count_and_labels_as_source(tmp_path: Path) -> None:
    mnist_like(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(49, dtype=np.uint8))
    with pytest.raises(Invalid, match="has 50 records but train-labels-idx1-ubyte has 49 labels"):
        open_source(str(tmp_path / "train-images-idx3-ubyte"))
    with pytest.raises(Invalid, match=r"1-d IDX file.*pass the images file as the source"):
        open_source(str(tmp_path / "train-labels-idx1-ubyte"))


def test_npz_damaged_member_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "dmg.npz"
    np.savez(path, X=np.random.default_rng(3).normal(size=(2000, 8)))
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 1  # a flipped bit: only the zip CRC, checked at the member's end, notices
    path.write_bytes(bytes(raw))
    _, chunks = open_source(str(path), chunk_rows=100)
    with pytest.raises(Invalid, match=r"array 'X' of dmg.npz is corrupt or truncated.*save it again"):
        list(chunks)

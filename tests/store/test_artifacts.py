from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from modelplane.errors import IntegrityError, NotFound
from modelplane.store.artifacts import ArtifactStore


def test_put_is_content_addressed_and_idempotent(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "a")
    sha = store.put_bytes(b"weights")
    assert sha == hashlib.sha256(b"weights").hexdigest()
    assert store.put_bytes(b"weights") == sha
    assert store.read_bytes(sha) == b"weights"
    assert store.path_for(sha).parent.name == sha[:2]


def test_put_file_streams_and_leaves_no_temp_files(tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(b"x" * (3 << 20))
    store = ArtifactStore(tmp_path / "a")
    sha = store.put_file(source)
    assert store.verified_path(sha).stat().st_size == 3 << 20
    assert list(store.tmp_dir.iterdir()) == []


def test_aborted_write_leaves_nothing(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "a")
    with pytest.raises(RuntimeError), store.writer() as writer:
        writer.write(b"half")
        raise RuntimeError("crash mid-write")
    assert list(store.tmp_dir.iterdir()) == []
    assert [p for p in store.root.iterdir() if p.name != "tmp"] == []


def test_corrupt_blob_is_an_error_not_a_silent_load(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "a")
    sha = store.put_bytes(b"original")
    store.path_for(sha).write_bytes(b"tampered")
    with pytest.raises(IntegrityError, match="corrupt"):
        store.read_bytes(sha)
    with pytest.raises(IntegrityError, match="corrupt"):
        store.verified_path(sha)


def test_missing_blob_is_not_found(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "a")
    with pytest.raises(NotFound, match="missing"):
        store.read_bytes("0" * 64)


def test_adopt_links_a_scratch_file_in_without_copying_it(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "a")
    scratch = store.tmp_dir / "graph.onnx"
    scratch.write_bytes(b"g" * 5000)
    sha = hashlib.sha256(b"g" * 5000).hexdigest()
    assert store.adopt(scratch, sha) == sha
    assert store.verified_path(sha).stat().st_ino == scratch.stat().st_ino  # one file, two names
    scratch.unlink()  # the caller's scratch folder goes away; the blob stays
    assert store.read_bytes(sha) == b"g" * 5000
    again = store.tmp_dir / "again.onnx"
    again.write_bytes(b"g" * 5000)
    assert store.adopt(again, sha) == sha  # stored already: reused, not linked twice
    assert store.path_for(sha).stat().st_nlink == 1

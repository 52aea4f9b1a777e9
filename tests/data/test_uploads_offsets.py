"""Chunks written at their offsets into one file: a chunk counts only once its marker is there, chunks sent
at once land where they belong, and completing links the file into place instead of copying it."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from modelplane.data.uploads import MIN_CHUNK, Uploads
from modelplane.errors import Invalid

DATA = os.urandom(MIN_CHUNK * 7 + 123)  # 8 chunks, the last one short


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def chunk(index: int) -> bytes:
    return DATA[index * MIN_CHUNK : (index + 1) * MIN_CHUNK]


@pytest.fixture
def uploads(tmp_path: Path) -> Uploads:
    return Uploads(tmp_path / "uploads", max_bytes=1 << 20)


def test_a_chunk_written_but_never_marked_is_missing_and_taken_again(uploads: Uploads) -> None:
    info = uploads.create("model.onnx", len(DATA), sha(DATA), MIN_CHUNK, owner="k1")
    for index in range(8):
        if index != 3:
            uploads.put_chunk(info.id, index, chunk(index), sha(chunk(index)))
    part = uploads.root / info.id / "part"
    with part.open("r+b") as fh:  # the server died halfway through writing chunk 3: junk, no marker
        fh.seek(3 * MIN_CHUNK)
        fh.write(b"\xff" * 1000)
    assert uploads.get(info.id).missing == [3]
    uploads.put_chunk(info.id, 3, chunk(3), sha(chunk(3)))
    assert uploads.complete(info.id).read_bytes() == DATA


def test_chunks_sent_at_once_land_at_their_offsets_and_complete_moves_the_file(uploads: Uploads) -> None:
    info = uploads.create("model.onnx", len(DATA), sha(DATA), MIN_CHUNK, owner="k1")
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: uploads.put_chunk(info.id, i, chunk(i), sha(chunk(i))), reversed(range(8))))
    assert uploads.get(info.id).missing == []
    part = uploads.root / info.id / "part"
    inode = part.stat().st_ino
    path = uploads.complete(info.id)
    assert path.read_bytes() == DATA
    assert path.stat().st_ino == inode  # linked, not copied into a second file
    left = sorted(p.name for p in (uploads.root / info.id).iterdir())
    assert left == ["data", "meta.json"]  # no part, no markers


def test_a_resent_chunk_after_completion_changes_nothing(uploads: Uploads) -> None:
    info = uploads.create("model.onnx", len(DATA), sha(DATA), MIN_CHUNK, owner="k1")
    for index in range(8):
        uploads.put_chunk(info.id, index, chunk(index), sha(chunk(index)))
    uploads.put_chunk(info.id, 0, chunk(0), sha(chunk(0)))  # sent twice (a retried request): one marker
    assert uploads.get(info.id).received == list(range(8))
    assert uploads.complete(info.id).read_bytes() == DATA


def test_a_server_restarted_midway_checks_the_whole_file_from_disk(uploads: Uploads) -> None:
    info = uploads.create("model.onnx", len(DATA), sha(DATA), MIN_CHUNK, owner="k1")
    for index in range(4):
        uploads.put_chunk(info.id, index, chunk(index), sha(chunk(index)))
    restarted = Uploads(uploads.root, max_bytes=1 << 20)  # knows nothing of what arrived before
    assert restarted.get(info.id).missing == [4, 5, 6, 7]
    for index in range(4, 8):
        restarted.put_chunk(info.id, index, chunk(index), sha(chunk(index)))
    assert Uploads(uploads.root, max_bytes=1 << 20).complete(info.id).read_bytes() == DATA


def test_a_file_that_differs_from_its_declared_hash_is_refused_either_way(uploads: Uploads) -> None:
    wrong = sha(DATA[:-1] + b"\x00")
    for completer in (uploads, Uploads(uploads.root, max_bytes=1 << 20)):  # hashed on arrival / from disk
        info = uploads.create(f"m{id(completer)}.onnx", len(DATA), wrong, MIN_CHUNK, owner="k1")
        for index in range(8):
            uploads.put_chunk(info.id, index, chunk(index), sha(chunk(index)))
        with pytest.raises(Invalid, match="not the declared"):
            completer.complete(info.id)
        assert not uploads.get(info.id).complete


def test_a_completion_that_fails_midway_can_be_tried_again(
    uploads: Uploads, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = uploads.create("model.onnx", len(DATA), sha(DATA), MIN_CHUNK, owner="k1")
    for index in range(8):
        uploads.put_chunk(info.id, index, chunk(index), sha(chunk(index)))

    def disk_full(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr("modelplane.data.uploads.os.replace", disk_full)
        with pytest.raises(OSError, match="No space"):
            uploads.complete(info.id)
    assert not uploads.get(info.id).complete and uploads.get(info.id).missing == []
    assert uploads.complete(info.id).read_bytes() == DATA
    assert sorted(p.name for p in (uploads.root / info.id).iterdir()) == ["data", "meta.json"]

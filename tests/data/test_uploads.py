"""Chunked uploads: verified chunks, resume, whole-file checksum, zip folders, and what is refused."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from modelplane.data.uploads import MIN_CHUNK, Uploads
from modelplane.errors import Conflict, Invalid, NotFound, PayloadTooLarge

DATA = bytes(range(256)) * 700  # 179,200 bytes: 3 chunks of MIN_CHUNK (the last one short)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def chunks(data: bytes, size: int = MIN_CHUNK) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.fixture
def uploads(tmp_path: Path) -> Uploads:
    return Uploads(tmp_path / "uploads", max_bytes=1 << 20)


def test_chunks_in_any_order_then_complete(uploads: Uploads) -> None:
    info = uploads.create("rows.csv", len(DATA), sha(DATA), MIN_CHUNK, owner="k1")
    assert info.chunks == 3 and info.missing == [0, 1, 2]
    parts = chunks(DATA)
    for index in (2, 0, 1):
        info = uploads.put_chunk(info.id, index, parts[index], sha(parts[index]))
    assert info.missing == []
    path = uploads.complete(info.id)
    assert path.name == "rows.csv" and path.read_bytes() == DATA
    assert uploads.source_path(f"upload:{info.id}") == path
    assert uploads.complete(info.id) == path  # completing twice is harmless


def test_declaring_the_same_file_again_resumes(uploads: Uploads) -> None:
    first = uploads.create("rows.csv", len(DATA), sha(DATA), MIN_CHUNK, owner="k1")
    uploads.put_chunk(first.id, 1, chunks(DATA)[1], sha(chunks(DATA)[1]))
    again = uploads.create("rows.csv", len(DATA), sha(DATA), MIN_CHUNK, owner="k1")
    assert again.id == first.id and again.missing == [0, 2]
    other_owner = uploads.create("rows.csv", len(DATA), sha(DATA), MIN_CHUNK, owner="k2")
    assert other_owner.id != first.id


def test_bad_chunks_are_refused_and_leave_nothing(uploads: Uploads) -> None:
    info = uploads.create("rows.csv", len(DATA), sha(DATA), MIN_CHUNK, owner="k1")
    part = chunks(DATA)[0]
    with pytest.raises(Invalid, match="does not match its sha256"):
        uploads.put_chunk(info.id, 0, part, sha(b"other"))
    with pytest.raises(Invalid, match=f"must be {MIN_CHUNK} bytes"):
        uploads.put_chunk(info.id, 0, part[:-1], sha(part[:-1]))
    with pytest.raises(Invalid, match="out of range"):
        uploads.put_chunk(info.id, 3, part, sha(part))
    with pytest.raises(NotFound):
        uploads.put_chunk("0" * 32, 0, part, sha(part))
    assert uploads.get(info.id).received == []
    with pytest.raises(Conflict, match="missing chunks 0, 1, 2"):
        uploads.complete(info.id)


def test_a_chunk_being_written_by_another_request_is_a_conflict(uploads: Uploads) -> None:
    info = uploads.create("rows.csv", len(DATA), sha(DATA), MIN_CHUNK, owner="k1")
    (uploads.root / info.id / "0.lock").touch()  # another request holds chunk 0
    part = chunks(DATA)[0]
    with pytest.raises(Conflict, match="being uploaded by another request"):
        uploads.put_chunk(info.id, 0, part, sha(part))
    (uploads.root / info.id / "0.lock").unlink()
    assert uploads.put_chunk(info.id, 0, part, sha(part)).received == [0]


def test_a_wrong_whole_file_checksum_completes_nothing(uploads: Uploads) -> None:
    declared = sha(b"something else")
    info = uploads.create("rows.csv", len(DATA), declared, MIN_CHUNK, owner="k1")
    for index, part in enumerate(chunks(DATA)):
        uploads.put_chunk(info.id, index, part, sha(part))
    with pytest.raises(Invalid, match="not the declared"):
        uploads.complete(info.id)
    assert not uploads.get(info.id).complete
    with pytest.raises(Conflict, match="not complete"):
        uploads.source_path(f"upload:{info.id}")


def test_limits_and_declarations(uploads: Uploads) -> None:
    with pytest.raises(PayloadTooLarge, match="upload limit"):
        uploads.create("big.csv", 2 << 20, sha(b""), MIN_CHUNK, owner="k1")
    with pytest.raises(Invalid, match="sha256"):
        uploads.create("rows.csv", 10, "abc", MIN_CHUNK, owner="k1")
    with pytest.raises(Invalid, match="chunk_size"):
        uploads.create("rows.csv", 10, sha(b"x"), 10, owner="k1")
    info = uploads.create("../../etc/passwd", 10, sha(b"x"), MIN_CHUNK, owner="k1")
    assert info.filename == "passwd"


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _upload_whole(uploads: Uploads, name: str, data: bytes) -> str:
    info = uploads.create(name, len(data), sha(data), MIN_CHUNK, owner="k1")
    for index, part in enumerate(chunks(data)):
        uploads.put_chunk(info.id, index, part, sha(part))
    return info.id


def test_a_zip_becomes_a_folder_and_may_not_escape_it(uploads: Uploads) -> None:
    good = _upload_whole(uploads, "shapes.zip", _zip({"circle/a.png": b"1", "square/b.png": b"2"}))
    folder = uploads.complete(good)
    assert folder.is_dir() and sorted(p.name for p in folder.iterdir()) == ["circle", "square"]
    evil = _upload_whole(uploads, "evil.zip", _zip({"../../outside.txt": b"x"}))
    with pytest.raises(Invalid, match="outside the archive"):
        uploads.complete(evil)
    assert not (uploads.root.parent / "outside.txt").exists()

"""The client's chunked upload over a real server: several chunks in flight, one read of the file for its
hashes, and a resume of an upload declared with another chunk size."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from modelplane.client import Client
from modelplane.data.uploads import MIN_CHUNK
from tests.api.conftest import Control
from tests.net import serve

DATA = os.urandom(MIN_CHUNK * 9 + 77)  # 10 chunks of MIN_CHUNK


def _uploaded(control: Control, source: str) -> bytes:
    uploads = control.app.state.control.uploads
    return bytes(uploads.source_path(source).read_bytes())


def test_many_chunks_at_once_arrive_whole(control: Control, tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(DATA)
    with serve(control.app) as address:
        client = Client(f"http://{address}", api_key=control.keys["developer"])
        try:
            source = client.datasets.upload(path, chunk_bytes=MIN_CHUNK)
        finally:
            client.close()
    assert _uploaded(control, source) == DATA


def test_a_resumed_upload_keeps_its_declared_chunk_size(control: Control, tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(DATA)
    h = control.headers("developer")
    declared = {"filename": "model.onnx", "size": len(DATA), "sha256": hashlib.sha256(DATA).hexdigest()}
    begun = control.http.post("/api/v1/uploads", json={**declared, "chunk_size": 2 * MIN_CHUNK}, headers=h)
    first = DATA[: 2 * MIN_CHUNK]
    sent = control.http.put(
        f"/api/v1/uploads/{begun.json()['id']}/chunks/0",
        content=first,
        headers={**h, "x-chunk-sha256": hashlib.sha256(first).hexdigest()},
    )
    assert sent.json()["missing"] == [1, 2, 3, 4]
    with serve(control.app) as address:
        client = Client(f"http://{address}", api_key=control.keys["developer"])
        try:
            source = client.datasets.upload(path, chunk_bytes=MIN_CHUNK)  # the server's 2 * MIN_CHUNK wins
        finally:
            client.close()
    assert source == f"upload:{begun.json()['id']}"
    assert _uploaded(control, source) == DATA

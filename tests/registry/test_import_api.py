"""POST /api/v1/models/import: uploads only, owner and role checked, refusals as 4xx {"error": ...}."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.api.conftest import Control, control  # noqa: F401  (the in-process control plane fixture)
from tests.registry.import_files import linear_onnx


def _upload(plane: Control, role: str, path: Path) -> str:
    data = path.read_bytes()
    declared = {
        "filename": path.name,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "chunk_size": 1 << 16,
    }
    headers = plane.headers(role)
    upload = plane.http.post("/api/v1/uploads", json=declared, headers=headers).json()
    for index in upload["missing"]:
        chunk = data[index * (1 << 16) : (index + 1) * (1 << 16)]
        plane.http.put(
            f"/api/v1/uploads/{upload['id']}/chunks/{index}",
            content=chunk,
            headers={**headers, "x-chunk-sha256": hashlib.sha256(chunk).hexdigest()},
        )
    return str(plane.http.post(f"/api/v1/uploads/{upload['id']}/complete", headers=headers).json()["source"])


def test_an_uploaded_onnx_file_becomes_a_version(control: Control, tmp_path: Path) -> None:  # noqa: F811
    source = _upload(control, "developer", linear_onnx(tmp_path / "m.onnx"))
    body = {"name": "m", "source": source, "classes": ["a", "b", "c"]}
    answer = control.http.post("/api/v1/models/import", json=body, headers=control.headers("developer"))
    assert answer.status_code == 201, answer.text
    version = answer.json()
    assert version["model"] == "m" and version["classes"] == ["a", "b", "c"]
    assert version["params"]["imported"]["file"] == "m.onnx" and version["created_by"]


def test_refusals_are_4xx_with_the_reason(control: Control, tmp_path: Path) -> None:  # noqa: F811
    developer = control.headers("developer")
    server_path = {"name": "m", "source": str(linear_onnx(tmp_path / "m.onnx"))}
    answer = control.http.post("/api/v1/models/import", json=server_path, headers=developer)
    assert answer.status_code == 400 and "upload:ID" in answer.json()["error"]

    fixed = _upload(control, "developer", linear_onnx(tmp_path / "fixed.onnx", shape=[1, 4]))
    answer = control.http.post(
        "/api/v1/models/import", json={"name": "m", "source": fixed}, headers=developer
    )
    assert answer.status_code == 400 and "fixes the batch size to 1" in answer.json()["error"]

    theirs = _upload(control, "admin", linear_onnx(tmp_path / "theirs.onnx"))
    answer = control.http.post(
        "/api/v1/models/import", json={"name": "m", "source": theirs}, headers=developer
    )
    assert answer.status_code == 403

    consumer = control.headers("consumer")
    answer = control.http.post(
        "/api/v1/models/import", json={"name": "m", "source": theirs}, headers=consumer
    )
    assert answer.status_code == 403
    assert control.http.get("/api/v1/models", headers=developer).json()["items"] == []

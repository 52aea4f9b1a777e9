"""/docs and /openapi.json need a key of any role unless the server was started with --public-docs."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from modelplane.api.app import create_control_app
from modelplane.api.deps import ControlState
from modelplane.api.gate import PlatformGate
from modelplane.data.uploads import Uploads
from modelplane.security.keys import Authenticator
from modelplane.security.limits import Limiter
from modelplane.store import Store
from tests.api.conftest import Control

DOCS = ("/docs", "/openapi.json")


@pytest.mark.parametrize("path", DOCS)
def test_docs_need_a_key_by_default(control: Control, path: str) -> None:
    refused = control.http.get(path)
    assert refused.status_code == 401 and "API key" in refused.json()["error"]
    wrong = control.http.get(path, headers={"x-api-key": "mp_000000000000_" + "a" * 43})
    assert wrong.status_code == 401
    for role in ("consumer", "developer", "admin"):  # any role may read them
        assert control.http.get(path, headers=control.headers(role)).status_code == 200


def test_the_keyed_pages_are_the_usual_ones(control: Control) -> None:
    schema = control.http.get("/openapi.json", headers=control.headers("consumer")).json()
    assert schema["info"]["title"] == "modelplane" and "/api/v1/models" in schema["paths"]
    assert "/docs" not in schema["paths"] and "/openapi.json" not in schema["paths"]
    page = control.http.get("/docs", headers=control.headers("consumer"))
    assert "swagger-ui" in page.text and "/openapi.json" in page.text
    assert control.http.get("/redoc", headers=control.headers("admin")).status_code == 404


@pytest.mark.parametrize("path", DOCS)
def test_public_docs_answer_without_a_key(store: Store, tmp_path: Path, path: str) -> None:
    gate = PlatformGate(Authenticator(store, recheck_s=0), Limiter(store), None)
    state = ControlState(store, gate, Uploads(tmp_path / "uploads", max_bytes=1 << 20))
    app = create_control_app(state, public_docs=True)
    with TestClient(app) as http:
        assert http.get(path).status_code == 200
        assert http.get("/api/v1/models").status_code == 401  # only the docs are public

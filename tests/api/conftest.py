"""A control plane in-process (Starlette's TestClient) on a real store, with one key per role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from modelplane.api.app import create_control_app
from modelplane.api.deps import ControlState
from modelplane.api.gate import PlatformGate
from modelplane.data.uploads import Uploads
from modelplane.security.keys import Authenticator, create_key
from modelplane.security.limits import Limiter
from modelplane.security.principal import Principal
from modelplane.store import Store


@dataclass
class Control:
    app: FastAPI
    http: TestClient
    store: Store
    keys: dict[str, str]  # role -> raw key

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


@pytest.fixture
def control(store: Store, tmp_path: Path) -> Iterator[Control]:
    admin = Principal.local("test")
    keys = {
        role: create_key(
            store, admin, role=role, name=f"{role}-key", deployments=("d1",) if role == "consumer" else ()
        ).key
        for role in ("admin", "developer", "consumer")
    }
    gate = PlatformGate(Authenticator(store, recheck_s=0), Limiter(store), None)
    app = create_control_app(ControlState(store, gate, Uploads(tmp_path / "uploads", max_bytes=1 << 24)))
    with TestClient(app, raise_server_exceptions=False) as http:
        yield Control(app, http, store, keys)

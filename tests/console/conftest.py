"""The console app on a test store, driven by Starlette's TestClient (no browser, no data plane): what
every console page test needs to sign in as each role."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from modelplane.api.gate import PlatformGate
from modelplane.console.app import create_console_app
from modelplane.console.live import LiveSampler
from modelplane.console.sessions import Sessions
from modelplane.console.web import ConsoleState
from modelplane.security.keys import Authenticator, create_key, ensure_admin_key
from modelplane.security.limits import Limiter
from modelplane.security.principal import Principal
from modelplane.serving.metrics import ServingMetrics
from modelplane.store import Store

_CSRF = re.compile(r'name="csrf" content="([^"]+)"')


@dataclass
class Console:
    """A console on `store` with an admin key; `signed_in(key)` gives a client holding a session."""

    store: Store
    state: ConsoleState
    admin_key: str
    metrics: ServingMetrics

    def client(self) -> TestClient:
        return TestClient(create_console_app(self.state), base_url="http://127.0.0.1", follow_redirects=False)

    def signed_in(self, key: str | None = None) -> TestClient:
        client = self.client()
        page = client.get("/ui/signin")
        token = re.search(r'name="form_token" value="([^"]+)"', page.text)
        assert token, page.text
        answer = client.post(
            "/ui/signin", data={"key": key or self.admin_key, "form_token": token.group(1), "next": "/ui/"}
        )
        assert answer.status_code == 303, answer.text
        return client

    def key(self, role: str, *deployments: str) -> str:
        admin = Principal.local("test")
        return create_key(self.store, admin, role=role, name=f"{role}-key", deployments=deployments).key


def csrf_of(client: TestClient, path: str = "/ui/") -> str:
    """The session's CSRF token, as a page carries it."""
    found = _CSRF.search(client.get(path).text)
    assert found, "the page has no CSRF token"
    return found.group(1)


@pytest.fixture
def console(store: Store) -> Iterator[Console]:
    admin_key = ensure_admin_key(store)
    assert admin_key
    metrics = ServingMetrics()
    gate = PlatformGate(Authenticator(store), Limiter(store), None)
    state = ConsoleState(store, gate, Sessions(store), LiveSampler(metrics))
    yield Console(store, state, admin_key, metrics)

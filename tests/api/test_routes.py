"""Every control-plane route has exactly one action, and 401/403 follow from it for every role."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute

from modelplane.api.app import API_PREFIX, ROUTERS
from modelplane.security.roles import PERMISSIONS, Role
from tests.api.conftest import Control


def api_routes(control: Control) -> list[tuple[str, str, str]]:
    """(method, path with parameters filled in, action) of every route the app's OpenAPI lists."""
    declared: dict[tuple[str, str], str] = {}
    for router in ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            actions = [d.call.action for d in route.dependant.dependencies if hasattr(d.call, "action")]
            assert len(actions) == 1, f"{route.path} must declare exactly one action with require(...)"
            for method in route.methods:
                declared[(method, API_PREFIX + route.path)] = actions[0]
    listed = {(m.upper(), path) for path, ops in control.app.openapi()["paths"].items() for m in ops}
    assert listed == set(declared), "every route the API serves must come from a router with rules"
    found = []
    for (method, path), action in sorted(declared.items()):
        filled = re.sub(r"\{[^}]+\}", "x", path.replace("{index}", "0"))
        found.append((method, filled, action))
    return found


def test_the_route_table_is_complete(control: Control) -> None:
    routes = api_routes(control)
    assert len(routes) >= 25
    assert {action for _, _, action in routes} >= {"data:read", "data:write", "train", "keys:admin", "deploy"}


def test_every_route_refuses_a_missing_or_malformed_key(control: Control) -> None:
    for method, path, _ in api_routes(control):
        missing = control.http.request(method, path)
        assert missing.status_code == 401, (method, path, missing.text)
        assert "API key" in missing.json()["error"] and missing.headers["www-authenticate"] == "Bearer"
        malformed = control.http.request(method, path, headers={"Authorization": "Basic dXNlcjpwdw=="})
        assert malformed.status_code == 401 and "malformed" in malformed.json()["error"]
        wrong = control.http.request(method, path, headers={"x-api-key": "mp_000000000000_" + "a" * 43})
        assert wrong.status_code == 401, (method, path)


@pytest.mark.parametrize("role", ["consumer", "developer", "admin"])
def test_each_role_gets_exactly_its_actions(control: Control, role: str) -> None:
    for method, path, action in api_routes(control):
        response = control.http.request(method, path, headers=control.headers(role))
        allowed = action in PERMISSIONS[Role(role)]
        if allowed:
            assert response.status_code not in (401, 403), (role, method, path, response.text)
        else:
            assert response.status_code == 403, (role, method, path, response.text)
            assert f"may not '{action}'" in response.json()["error"]


def test_a_revoked_key_is_refused_at_once(control: Control) -> None:
    admin = control.headers("admin")
    listed = control.http.get("/api/v1/keys", headers=admin).json()["items"]
    developer = next(k for k in listed if k["role"] == "developer")
    assert control.http.get("/api/v1/models", headers=control.headers("developer")).status_code == 200
    assert control.http.delete(f"/api/v1/keys/{developer['id']}", headers=admin).status_code == 200
    refused = control.http.get("/api/v1/models", headers=control.headers("developer"))
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]


def test_a_developer_cannot_create_keys(control: Control) -> None:
    body = {"role": "admin", "name": "escalate"}
    response = control.http.post("/api/v1/keys", json=body, headers=control.headers("developer"))
    assert response.status_code == 403
    assert len(control.http.get("/api/v1/keys", headers=control.headers("admin")).json()["items"]) == 3

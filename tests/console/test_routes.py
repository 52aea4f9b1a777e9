"""Every console route, walked: none answers without a session, and none changes anything without the
session's CSRF token. A page added later is held to the same rules without a test of its own."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute

from modelplane.console import signin
from modelplane.console.pages import ROUTERS
from modelplane.console.web import PREFIX
from modelplane.security.audit import log
from tests.console.conftest import Console

OPEN = {"/ui/signin"}  # the sign-in form itself


def _routes(method: str) -> list[str]:
    paths = [
        PREFIX + route.path
        for router in (*ROUTERS, signin.router)
        for route in router.routes
        if isinstance(route, APIRoute) and method in route.methods
    ]
    return [re.sub(r"\{[^}]+\}", "x", path) for path in paths if path not in OPEN]


def test_every_page_needs_a_session(console: Console) -> None:
    client = console.client()
    paths = _routes("GET")
    assert len(paths) >= 15  # every page group is walked
    for path in paths:
        answer = client.get(path)
        if path.startswith("/ui/live/"):
            assert answer.status_code == 401 and "sign in" in answer.json()["error"], path
        else:
            assert answer.status_code == 303 and "/ui/signin" in answer.headers["location"], path


def test_every_form_needs_the_sessions_csrf_token(console: Console) -> None:
    client = console.signed_in()
    before = len(log(console.store, limit=1000))
    paths = _routes("POST")
    assert len(paths) >= 5  # sign-out, cancel, create and revoke a key, move an alias
    for path in paths:
        answer = client.post(path, data={"csrf": "forged", "version": "1", "name": "n", "role": "admin"})
        assert answer.status_code == 403 and "CSRF token" in answer.text, path
    assert len(log(console.store, limit=1000)) == before  # nothing was done, nothing audited


def test_out_of_range_numbers_are_a_4xx_page_never_a_500(console: Console) -> None:
    client = console.signed_in()
    huge = str(2**63)
    query = {"offset": huge, "before": huge, "version": huge, "after": huge, "since": huge, "limit": huge}
    for path in [*_routes("GET"), "/ui/models/m/versions/" + huge]:
        answer = client.get(path, params=query)
        assert answer.status_code < 500, (path, answer.status_code, answer.text[:300])

"""Paging parameters are bounded on every list route (in the OpenAPI schema too), an out-of-range value is a
400 that names the parameter and its range, and an unexpected error is logged with its traceback."""

from __future__ import annotations

import logging

import pytest
from fastapi.routing import APIRoute

from modelplane.api.app import API_PREFIX, ROUTERS
from modelplane.api.deps import MAX_LIMIT, MAX_OFFSET, page
from tests.api.conftest import Control

TOO_BIG = 2**63  # one past SQLite's INTEGER: it was an OverflowError, a 500, before the bound


def _list_routes() -> list[str]:
    """Every GET route under /api/v1 that takes the shared paging dependency."""
    found = []
    for router in ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            if "GET" in route.methods and any(d.call is page for d in route.dependant.dependencies):
                found.append(API_PREFIX + route.path)
    return found


def test_the_list_routes_are_found() -> None:
    routes = _list_routes()
    assert {
        f"{API_PREFIX}/jobs",
        f"{API_PREFIX}/runs",
        f"{API_PREFIX}/datasets",
        f"{API_PREFIX}/keys",
    } <= set(routes)


@pytest.mark.parametrize("path", _list_routes())
def test_paging_bounds_are_in_the_schema(control: Control, path: str) -> None:
    params = {p["name"]: p["schema"] for p in control.app.openapi()["paths"][path]["get"]["parameters"]}
    assert (params["offset"]["minimum"], params["offset"]["maximum"]) == (0, MAX_OFFSET)
    assert (params["limit"]["minimum"], params["limit"]["maximum"]) == (1, MAX_LIMIT)


@pytest.mark.parametrize("path", _list_routes())
@pytest.mark.parametrize(
    ("query", "named"),
    [
        (f"offset={TOO_BIG}", f"field 'query.offset': must be an integer from 0 to {MAX_OFFSET}"),
        ("offset=-1", f"field 'query.offset': must be an integer from 0 to {MAX_OFFSET}"),
        ("limit=0", f"field 'query.limit': must be an integer from 1 to {MAX_LIMIT}"),
        ("limit=x", f"field 'query.limit': must be an integer from 1 to {MAX_LIMIT} (got 'x')"),
    ],
)
def test_out_of_range_paging_is_a_400_naming_the_range(
    control: Control, path: str, query: str, named: str
) -> None:
    filled = path.replace("{name}", "digits")
    if filled.endswith("/usage"):
        query += "&since=2026-01-01"
    response = control.http.get(f"{filled}?{query}", headers=control.headers("admin"))
    assert response.status_code == 400, response.text
    assert named in response.json()["error"]


def test_the_largest_offset_allowed_answers_an_empty_page(control: Control) -> None:
    for path in (f"{API_PREFIX}/jobs", f"{API_PREFIX}/runs"):
        answer = control.http.get(f"{path}?offset={MAX_OFFSET}", headers=control.headers("admin"))
        assert answer.status_code == 200 and answer.json()["items"] == [], answer.text


def test_job_log_lines_after_are_bounded(control: Control) -> None:
    response = control.http.get(f"{API_PREFIX}/jobs/x/logs?after={TOO_BIG}", headers=control.headers("admin"))
    assert response.status_code == 400
    assert f"field 'query.after': must be an integer from 0 to {MAX_OFFSET}" in response.json()["error"]


def test_an_unexpected_error_is_logged_with_its_traceback(
    control: Control, caplog: pytest.LogCaptureFixture
) -> None:
    def boom() -> None:
        raise RuntimeError("the disk went away")

    control.app.add_api_route("/boom", boom)
    with caplog.at_level(logging.ERROR, logger="modelplane.api.errors"):
        response = control.http.get("/boom")
    assert response.status_code == 500
    assert response.json() == {
        "error": "internal error: RuntimeError: the disk went away (see the server log)"
    }
    [record] = [r for r in caplog.records if r.name == "modelplane.api.errors"]
    assert "GET /boom" in record.getMessage()
    logged = caplog.text
    assert (
        "Traceback (most recent call last)" in logged and 'raise RuntimeError("the disk went away")' in logged
    )
    assert "NoneType: None" not in logged

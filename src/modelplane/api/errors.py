"""Every control-plane failure is JSON `{"error": "..."}` with the status its type names (DESIGN: errors)."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from modelplane.errors import ModelplaneError, QuotaExceeded, Unauthorized, Unavailable

log = logging.getLogger(__name__)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _typed(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ModelplaneError)
    headers: dict[str, str] = {}
    if isinstance(exc, (Unavailable, QuotaExceeded)):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    elif isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    if exc.status_code >= 500:
        log.error("control-plane request failed: %s", exc, exc_info=exc)
    return error_response(exc.status_code, str(exc), headers)


def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for item in exc.errors():
        where = ".".join(str(p) for p in item["loc"] if p != "body") or "body"
        message = _out_of_range(request, item) or item["msg"].removeprefix("Value error, ")
        parts.append(f"field '{where}': {message}")
    return error_response(400, "invalid request: " + "; ".join(parts))


_NUMBER_ERRORS = frozenset(
    ("int_parsing", "int_from_float", "greater_than_equal", "less_than_equal", "greater_than", "less_than")
)


def _out_of_range(request: Request, item: Any) -> str | None:
    """`must be an integer from 0 to 1000000000 (got '9223372036854775808')` for a query or path integer
    with declared bounds, so the answer names the whole range rather than only the side that was crossed."""
    loc = item["loc"]
    if item["type"] not in _NUMBER_ERRORS or len(loc) != 2 or loc[0] not in ("query", "path"):
        return None
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return None
    low = high = None
    for field in _params(route.dependant, loc[0]):
        if field.alias == loc[1]:
            for bound in field.field_info.metadata:
                low = getattr(bound, "ge", low)
                high = getattr(bound, "le", high)
    if low is None and high is None:
        return None
    span = (
        f"from {low} to {high}"
        if low is not None and high is not None
        else (f"at least {low}" if low is not None else f"at most {high}")
    )
    return f"must be an integer {span} (got {item['input']!r})"


def _params(dependant: Dependant, where: str) -> Iterator[Any]:
    yield from dependant.query_params if where == "query" else dependant.path_params
    for sub in dependant.dependencies:
        yield from _params(sub, where)


def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, str(exc.detail), dict(exc.headers or {}))


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # exc_info=exc: this handler runs outside the `except` that caught it, where log.exception would log
    # `NoneType: None` instead of the traceback.
    log.error("internal error in the control plane: %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, f"internal error: {type(exc).__name__}: {exc} (see the server log)")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ModelplaneError, _typed)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)

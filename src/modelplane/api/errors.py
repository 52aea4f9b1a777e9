"""Every control-plane failure is JSON `{"error": "..."}` with the status its type names (DESIGN: errors)."""

from __future__ import annotations

import logging
import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
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


def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for item in exc.errors():
        where = ".".join(str(p) for p in item["loc"] if p != "body") or "body"
        parts.append(f"field '{where}': {item['msg'].removeprefix('Value error, ')}")
    return error_response(400, "invalid request: " + "; ".join(parts))


def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, str(exc.detail), dict(exc.headers or {}))


def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("internal error in the control plane")
    return error_response(500, f"internal error: {type(exc).__name__}: {exc} (see the server log)")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ModelplaneError, _typed)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)

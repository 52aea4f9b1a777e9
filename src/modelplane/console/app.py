"""The console's ASGI app, mounted by `modelplane up` at `/` and `/ui`: sign-in, the pages, their errors.

Failures keep the API's one-line messages: a page that cannot be shown renders them with its status (404
with a way back, 403 naming the role needed); a form that fails goes back to the page it came from with
the message shown there; a missing or expired session goes to sign-in, saying which.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from modelplane.console import signin
from modelplane.console.pages import ROUTERS
from modelplane.console.sessions import SessionExpired
from modelplane.console.web import PREFIX, ConsoleState, back, optional_viewer, render
from modelplane.errors import Forbidden, ModelplaneError, NotFound, Unauthorized

STATIC = Path(__file__).parent / "static"
log = logging.getLogger(__name__)


def create_console_app(state: ConsoleState) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.console = state
    app.mount(PREFIX + "/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(signin.router, prefix=PREFIX)
    for router in ROUTERS:
        app.include_router(router, prefix=PREFIX)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(PREFIX + "/", status_code=307)

    app.add_exception_handler(ModelplaneError, _failed)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _bad_request)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _crashed)
    return app


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(PREFIX + "/live/") or "application/json" in request.headers.get(
        "accept", ""
    )


def _failed(request: Request, exc: ModelplaneError) -> Response:
    message = str(exc)
    if _wants_json(request):
        return JSONResponse({"error": message}, status_code=exc.status_code)
    if isinstance(exc, Unauthorized):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        reason = "expired" if isinstance(exc, SessionExpired) else "signin"
        location = f"{PREFIX}/signin?next={quote(target)}&reason={reason}"
        if not isinstance(exc, SessionExpired) and request.cookies:
            location += "&error=" + quote(message)
        return RedirectResponse(location, status_code=303)
    if isinstance(exc, Forbidden):  # a role's limit or a missing CSRF token: a 403 page, nothing done
        return render(request, optional_viewer(request), "error.html", status_code=403, message=message)
    if request.method == "POST" and exc.status_code < 500:
        return back(_came_from(request), error=message)
    if isinstance(exc, NotFound):
        return _not_found(request, message)
    return render(
        request, optional_viewer(request), "error.html", status_code=exc.status_code, message=message
    )


def _came_from(request: Request) -> str:
    """The console page a form was posted from (its own path when the Referer is missing or foreign)."""
    referer = request.headers.get("referer", "")
    origin = f"{request.url.scheme}://{request.url.netloc}"
    path = referer.removeprefix(origin) if referer.startswith(origin + PREFIX) else request.url.path
    return path.split("#")[0]


def _not_found(request: Request, message: str) -> Response:
    return render(request, optional_viewer(request), "not_found.html", status_code=404, message=message)


def _http(request: Request, exc: HTTPException) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)
    if exc.status_code == 404:
        return _not_found(request, f"there is no console page at {request.url.path}")
    return render(
        request, optional_viewer(request), "error.html", status_code=exc.status_code, message=str(exc.detail)
    )


def _crashed(request: Request, exc: Exception) -> Response:
    """A bug: the traceback goes to the server's log, the page says where to look (never a bare 500)."""
    log.error("console request %s %s failed", request.method, request.url.path, exc_info=exc)
    message = "the console failed to answer this request (a bug); the server's log has the traceback"
    if _wants_json(request):
        return JSONResponse({"error": message}, status_code=500)
    return render(request, None, "error.html", status_code=500, message=message)


def _bad_request(request: Request, exc: RequestValidationError) -> Response:
    parts = [
        f"{'.'.join(str(p) for p in item['loc'] if p not in ('query', 'body', 'path'))}: {item['msg']}"
        for item in exc.errors()
    ]
    message = "invalid request: " + "; ".join(parts)
    if _wants_json(request):
        return JSONResponse({"error": message}, status_code=400)
    if request.method == "POST":
        return back(_came_from(request), error=message)
    return render(request, optional_viewer(request), "error.html", status_code=400, message=message)

"""Sign-in with an API key, and sign-out. The key is checked once and never stored in the browser: the
browser gets an HttpOnly, SameSite=Strict cookie naming a server-side session (console/sessions.py)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from modelplane.console.sessions import same_token
from modelplane.console.web import (
    COOKIE,
    PREFIX,
    ConsoleState,
    Viewer,
    checked_form,
    console,
    current_viewer,
    render,
)
from modelplane.errors import Forbidden, Unauthorized
from modelplane.serving.types import Credentials

router = APIRouter()
_NO_KEY = "paste an API key to sign in (an admin creates keys: `modelplane keys create`)"
_SIGNIN_COOKIE = "modelplane_console_signin"  # the sign-in form's own CSRF token (no session yet)
_REASONS = {
    "expired": "Your session has expired. Sign in again.",
    "signin": "Sign in to see that page.",
}


@router.get("/signin", response_class=HTMLResponse)
def signin_page(
    request: Request, next: str = PREFIX + "/", reason: str = "", state: ConsoleState = Depends(console)
) -> Response:
    return _signin_form(request, state, next, notice=_REASONS.get(reason))


def _signin_form(request: Request, state: ConsoleState, next: str, **context: Any) -> Response:
    token = secrets.token_urlsafe(24)
    page = render(
        request, None, "signin.html", next=_local(next), form_token=token, auth=state.gate.enabled, **context
    )
    _cookie(request, page, _SIGNIN_COOKIE, token)
    return page


@router.post("/signin")
def signin(
    request: Request,
    key: str = Form(""),
    next: str = Form(PREFIX + "/"),
    form_token: str = Form(""),
    state: ConsoleState = Depends(console),
) -> Response:
    if not same_token(request.cookies.get(_SIGNIN_COOKIE), form_token) or not form_token:
        raise Forbidden("the sign-in form expired or came from another site; reload the sign-in page")
    key_id = None
    if state.gate.enabled:
        try:
            if not key.strip():
                raise Unauthorized(
                    "paste an API key to sign in (an admin creates keys: `modelplane keys create`)"
                )
            key_id = state.gate.principal(Credentials(None, key.strip())).key_id
        except Unauthorized as refused:
            return _signin_form(request, state, next, error=str(refused), status_code=401)
    token, _session = state.sessions.create(key_id)
    response = RedirectResponse(_local(next), status_code=303)
    _cookie(request, response, COOKIE, token)
    response.delete_cookie(_SIGNIN_COOKIE, path=PREFIX)
    return response


@router.post("/signout")
def signout(
    request: Request,
    form: Mapping[str, Any] = Depends(checked_form),
    viewer: Viewer = Depends(current_viewer),
    state: ConsoleState = Depends(console),
) -> Response:
    state.sessions.end(viewer.token, actor=viewer.principal.actor)
    response = RedirectResponse(f"{PREFIX}/signin?flash=Signed+out", status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


def _local(target: str) -> str:
    """Only a console path is a place to go after sign-in (never another site)."""
    return target if target.startswith(PREFIX + "/") and not target.startswith("//") else PREFIX + "/"


def _cookie(request: Request, response: Response, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )

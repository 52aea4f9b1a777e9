"""Console pages: API keys (admins only): list, create (the raw key shown once), revoke after a confirmation.

The same security.keys functions as the API's /api/v1/keys routes, with the viewer as the actor: they
check 'keys:admin' themselves and write the audit entries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from modelplane.console.web import ConsoleState, Viewer, back, checked_form, console, current_viewer, render
from modelplane.errors import NotFound
from modelplane.security.keys import create_key, list_keys, revoke_key
from modelplane.security.roles import Role

router = APIRouter()
_SEPARATORS = re.compile(r"[\s,]+")


def _field(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


@router.get("/keys", response_class=HTMLResponse)
def keys_page(
    request: Request, viewer: Viewer = Depends(current_viewer), s: ConsoleState = Depends(console)
) -> HTMLResponse:
    viewer.require("keys:admin")
    keys = list(reversed(list_keys(s.store, viewer.principal)))  # newest first
    return render(request, viewer, "keys/list.html", keys=keys, roles=[role.value for role in Role])


@router.post("/keys", response_class=HTMLResponse)
def keys_create(
    request: Request,
    viewer: Viewer = Depends(current_viewer),
    form: Mapping[str, Any] = Depends(checked_form),
    s: ConsoleState = Depends(console),
) -> HTMLResponse:
    """Renders the raw key in this answer (never a redirect: it must not reach a URL, a cookie or a cache)."""
    created = create_key(
        s.store,
        viewer.principal,
        role=_field(form, "role"),
        name=_field(form, "name"),
        deployments=[name for name in _SEPARATORS.split(_field(form, "deployments")) if name],
        rate=_field(form, "rate") or None,
        quota=_field(form, "quota") or None,
    )
    answer = render(request, viewer, "keys/created.html", created=created)
    answer.headers["Cache-Control"] = "no-store"
    return answer


@router.get("/keys/{key_id}/revoke", response_class=HTMLResponse)
def revoke_confirm(
    request: Request,
    key_id: str,
    viewer: Viewer = Depends(current_viewer),
    s: ConsoleState = Depends(console),
) -> HTMLResponse:
    """The confirmation step: which key, whose, what it may do, before anything changes."""
    viewer.require("keys:admin")
    found = next((key for key in list_keys(s.store, viewer.principal) if key.id == key_id), None)
    if found is None:
        raise NotFound(f"API key '{key_id}' does not exist; list keys with `modelplane keys list`")
    return render(request, viewer, "keys/revoke.html", key=found)


@router.post("/keys/{key_id}/revoke")
def revoke(
    key_id: str,
    viewer: Viewer = Depends(current_viewer),
    form: Mapping[str, Any] = Depends(checked_form),
    s: ConsoleState = Depends(console),
) -> RedirectResponse:
    revoked = revoke_key(s.store, viewer.principal, key_id)
    return back("/ui/keys", flash=f"Key {revoked.id} ({revoked.name}) revoked")

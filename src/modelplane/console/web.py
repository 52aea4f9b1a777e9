"""What every console page receives: the signed-in viewer, the template renderer, CSRF-checked forms.

Pages call the same domain functions the API's routes call, with `viewer.principal` as the actor, so
the console can do nothing the API would refuse and every action lands in the audit ledger the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from modelplane.api.gate import ANONYMOUS, PlatformGate
from modelplane.console.live import LiveSampler, ServedDeployments
from modelplane.console.sessions import Session, Sessions, same_token
from modelplane.errors import Forbidden, Invalid, Unauthorized
from modelplane.security.principal import Principal
from modelplane.security.roles import PERMISSIONS, Action, Role, authorize
from modelplane.store import Store

COOKIE = "modelplane_console"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
PREFIX = "/ui"
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


@dataclass
class ConsoleState:
    """Shared by every console request of one server."""

    store: Store
    gate: PlatformGate
    sessions: Sessions
    live: LiveSampler | None = None  # the data plane's figures, where the console runs beside it
    served: ServedDeployments | None = None  # which deployments that data plane serves now


@dataclass(frozen=True)
class Viewer:
    """The signed-in principal and its session's CSRF token."""

    principal: Principal
    csrf: str
    token: str

    def can(self, action: Action, deployment: str | None = None) -> bool:
        try:
            authorize(self.principal, action, deployment)
        except Forbidden:
            return False
        return True

    def require(self, action: Action, deployment: str | None = None) -> None:
        """Forbidden (a 403 page naming the role needed) unless the API would allow it too."""
        authorize(self.principal, action, deployment)

    def sees_deployment(self, name: str) -> bool:
        """Reads of every deployment need 'deployments:read'; a consumer sees those its key may predict on."""
        return self.can("deployments:read") or self.can("predict", name)  # authorize checks the scope

    @property
    def is_consumer(self) -> bool:
        return self.principal.role == Role.CONSUMER

    @property
    def actions(self) -> frozenset[Action]:
        return PERMISSIONS[self.principal.role]


def console(request: Request) -> ConsoleState:
    found: ConsoleState = request.app.state.console
    return found


class SignInNeeded(Unauthorized):
    """No session cookie: the page sends the browser to sign in (app.py's handler)."""


def session_of(request: Request, state: ConsoleState) -> tuple[str, Session]:
    token = request.cookies.get(COOKIE)
    if not token:
        raise SignInNeeded("sign in to use the console")
    return token, state.sessions.resolve(token)


def principal_of(state: ConsoleState, session: Session) -> Principal:
    authenticator = state.gate.authenticator
    if authenticator is None:
        return ANONYMOUS
    if session.key_id is None:
        raise SignInNeeded("this server now needs an API key; sign in with one")
    return authenticator.by_id(session.key_id)


def current_viewer(request: Request, state: ConsoleState = Depends(console)) -> Viewer:
    token, session = session_of(request, state)
    return Viewer(principal_of(state, session), session.csrf, token)


def optional_viewer(request: Request) -> Viewer | None:
    """The viewer where the request has a live session (error pages keep their navigation), else None."""
    try:
        return current_viewer(request, console(request))
    except Unauthorized:
        return None


async def checked_form(request: Request, viewer: Viewer = Depends(current_viewer)) -> Mapping[str, Any]:
    """A state-changing request's form, refused (403) unless it carries the session's CSRF token (form
    field `csrf`, or the `X-CSRF-Token` header for script requests)."""
    form = await request.form()
    sent = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
    if not same_token(sent if isinstance(sent, str) else None, viewer.csrf):
        raise Forbidden(
            "this form has no valid CSRF token (it was not sent by a console page of this session); "
            "reload the page and try again"
        )
    return form


def render(request: Request, viewer: Viewer | None, template: str, **context: Any) -> HTMLResponse:
    """A page: the template with the viewer, the navigation it may use and any message to show."""
    context.setdefault("flash", request.query_params.get("flash"))
    context.setdefault("error", request.query_params.get("error"))
    context.update(request=request, viewer=viewer, nav=navigation(viewer), prefix=PREFIX)
    status = context.pop("status_code", 200)
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status)


def back(to: str, *, flash: str | None = None, error: str | None = None) -> RedirectResponse:
    """After a form: see-other to a console page, with the one-line outcome to show there."""
    if not to.startswith(PREFIX):
        raise Invalid(f"not a console page: {to!r}")
    query = {k: v for k, v in (("flash", flash), ("error", error)) if v}
    separator = "&" if "?" in to else "?"
    return RedirectResponse(to + (separator + urlencode(query) if query else ""), status_code=303)


# (label, path, action needed to see it; None: every signed-in viewer)
PAGES: tuple[tuple[str, str, Action | None], ...] = (
    ("Overview", "/", None),
    ("Datasets", "/datasets", "data:read"),
    ("Runs", "/runs", "models:read"),
    ("Models", "/models", "models:read"),
    ("Deployments", "/deployments", None),
    ("Jobs", "/jobs", "jobs:read"),
    ("Tuning", "/studies", "models:read"),
    ("Keys", "/keys", "keys:admin"),
    ("Usage", "/usage", None),
    ("Audit", "/audit", "audit:read"),
)


def navigation(viewer: Viewer | None) -> list[tuple[str, str]]:
    if viewer is None:
        return []
    return [(label, PREFIX + path) for label, path, action in PAGES if action is None or viewer.can(action)]

"""Console page: the overview — every deployment the viewer may see with its health and live figures, the
jobs running now (jobs:read) and the newest audit entries (audit:read), each section as the API allows."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from modelplane.console.pages.deployments_data import deployment_rows
from modelplane.console.web import ConsoleState, Viewer, console, current_viewer, render
from modelplane.jobs.queue import count_jobs, list_jobs
from modelplane.jobs.views import RUNNING
from modelplane.security.audit import log

router = APIRouter()
JOBS = 10  # running jobs shown (the Jobs page has the rest)
AUDIT = 10  # newest audit entries shown


@router.get("/", response_class=HTMLResponse)
def overview(
    request: Request, viewer: Viewer = Depends(current_viewer), state: ConsoleState = Depends(console)
) -> HTMLResponse:
    context: dict[str, Any] = {"jobs": None, "audit": None}
    if viewer.can("jobs:read"):
        context["jobs"] = list_jobs(state.store, limit=JOBS, state=RUNNING)
        context["running"] = count_jobs(state.store, state=RUNNING)
    if viewer.can("audit:read"):
        context["audit"] = log(state.store, limit=AUDIT)
    return render(
        request,
        viewer,
        "overview/index.html",
        rows=deployment_rows(state, viewer),
        internals=viewer.can("deployments:read"),
        live=state.live is not None,
        **context,
    )

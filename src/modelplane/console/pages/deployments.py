"""Console pages: the deployments list, one deployment (live charts, canary split, monitoring, alerts), and
the JSON those pages poll.

A consumer (no 'deployments:read', as in the API) may open the deployments its key may predict on and sees
their name, status and live request figures only; the monitor's windows and the alert rules are for roles
that may read deployments. The live endpoints read the sampler's memory, never the artifacts: one session
lookup per poll, and the deployment's existence remembered for a few seconds.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from modelplane.console.live import Point
from modelplane.console.pages.deployments_data import (
    KnownDeployments,
    accuracy_series,
    deployment_rows,
    drift_badge,
    heat_map,
)
from modelplane.console.web import PREFIX, ConsoleState, Viewer, console, current_viewer, render
from modelplane.monitoring.alert_store import alert_history, list_rules
from modelplane.monitoring.windows import list_windows
from modelplane.serving.deployments import get_deployment

router = APIRouter()
KNOWN = KnownDeployments()
WINDOWS = 48  # monitor windows in the heat map and the accuracy chart: 4 hours of 5-minute windows
HISTORY = 20  # alert events shown
MAX_NAMES = 200  # deployments one latest-figures poll may ask about


def _may_see(viewer: Viewer, name: str) -> None:
    """A 403 naming the role needed unless the viewer may see the deployment (as `sees_deployment`)."""
    if not viewer.sees_deployment(name):
        viewer.require("deployments:read")


@router.get("/deployments", response_class=HTMLResponse)
def deployments_list(
    request: Request, viewer: Viewer = Depends(current_viewer), state: ConsoleState = Depends(console)
) -> HTMLResponse:
    return render(
        request,
        viewer,
        "deployments/list.html",
        rows=deployment_rows(state, viewer),
        internals=viewer.can("deployments:read"),
        live=state.live is not None,
    )


@router.get("/deployments/{name}", response_class=HTMLResponse)
def deployment_page(
    name: str,
    request: Request,
    viewer: Viewer = Depends(current_viewer),
    state: ConsoleState = Depends(console),
) -> HTMLResponse:
    _may_see(viewer, name)
    info = get_deployment(state.store, name)
    internals = viewer.can("deployments:read")
    context: dict[str, Any] = {"internals": internals}
    if internals:
        windows = list_windows(state.store, name, limit=WINDOWS)
        newest_drift = next((w.metrics["drift"] for w in windows if "drift" in w.metrics), None)
        context.update(
            windows=windows,
            heat=heat_map(windows),
            accuracy=accuracy_series(windows),
            drift=newest_drift,
            drift_badge=drift_badge(newest_drift),
            rules=list_rules(state.store, name),
            history=alert_history(state.store, name, limit=HISTORY),
        )
    return render(
        request,
        viewer,
        "deployments/detail.html",
        info=info,
        health=state.served.health(name) if state.served else None,
        live=state.live is not None,
        live_url=f"{PREFIX}/live/deployments/{name}",
        **context,
    )


@router.get("/live/deployments/{name}")
def deployment_live(
    name: str,
    since: float | None = Query(None, description="Only points after this unix time (the last one held)"),
    viewer: Viewer = Depends(current_viewer),
    state: ConsoleState = Depends(console),
) -> dict[str, Any]:
    """The deployment's live points (Point.to_dict), oldest first; an empty list without a data plane."""
    _may_see(viewer, name)
    KNOWN.check(state, name)
    if state.live is None:
        return {"points": [], "live": False}
    points = state.live.points(name)
    return {"points": [p.to_dict() for p in points if since is None or p.t > since], "live": True}


@router.get("/live/latest")
def deployments_latest(
    name: list[str] = Query(default_factory=list, max_length=MAX_NAMES),
    viewer: Viewer = Depends(current_viewer),
    state: ConsoleState = Depends(console),
) -> dict[str, Any]:
    """The newest point of each named deployment the viewer may see (no store query: names nobody serves
    have none), for the Overview's and the list's figures."""
    latest: dict[str, dict[str, Any] | None] = {}
    for each in name:
        if viewer.sees_deployment(each):
            point: Point | None = state.live.latest(each) if state.live else None
            latest[each] = point.to_dict() if point else None
    return {"latest": latest}

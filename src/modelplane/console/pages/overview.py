"""Console page: the overview (placeholder until written)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from modelplane.console.web import Viewer, current_viewer, render

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, viewer: Viewer = Depends(current_viewer)) -> HTMLResponse:
    return render(request, viewer, "overview/index.html")

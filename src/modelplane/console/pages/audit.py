"""Console pages: the audit ledger (newest entries, paged back by seq, filtered by actor/action) and its
verification, the same check `modelplane audit verify` and /api/v1/audit/verify run ('audit:read')."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from modelplane.console.web import ConsoleState, Viewer, console, current_viewer, render
from modelplane.security import audit

router = APIRouter()
PAGE_SIZE = 50


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    before: int | None = Query(None, ge=1, le=2**62, description="Entries older than this seq"),
    actor: str | None = Query(None),
    action: str | None = Query(None),
    viewer: Viewer = Depends(current_viewer),
    s: ConsoleState = Depends(console),
) -> HTMLResponse:
    viewer.require("audit:read")
    entries = audit.log(s.store, limit=PAGE_SIZE, before=before, actor=actor or None, action=action or None)
    filters = {name: value for name, value in (("actor", actor), ("action", action)) if value}
    return render(
        request,
        viewer,
        "audit/index.html",
        entries=entries,
        filters=filters,
        before=before,
        older=entries[-1].seq if len(entries) == PAGE_SIZE and entries[-1].seq > 1 else None,
        verification=None,
    )


@router.get("/audit/verify", response_class=HTMLResponse)
def audit_verify(
    request: Request, viewer: Viewer = Depends(current_viewer), s: ConsoleState = Depends(console)
) -> HTMLResponse:
    """Recompute the whole chain and show the outcome above the newest entries (a read: no CSRF needed)."""
    viewer.require("audit:read")
    verification = audit.verify(s.store)
    entries = audit.log(s.store, limit=PAGE_SIZE)
    return render(
        request,
        viewer,
        "audit/index.html",
        entries=entries,
        filters={},
        before=None,
        older=entries[-1].seq if len(entries) == PAGE_SIZE and entries[-1].seq > 1 else None,
        verification=verification,
    )

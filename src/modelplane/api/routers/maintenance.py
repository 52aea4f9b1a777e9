"""/api/v1/gc: reclaim the storage no live row needs (admin only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from modelplane.api.deps import ControlState, require, state
from modelplane.registry.gc import collect
from modelplane.security.principal import Principal

router = APIRouter(tags=["maintenance"])


@router.post("/gc")
def gc(
    dry_run: bool = Query(False, description="Report what would be freed; change nothing"),
    caller: Principal = require("maintenance:admin"),
    s: ControlState = Depends(state),
) -> dict[str, Any]:
    """Apply retention policies, then remove unreferenced artifacts, crashed writers' temp files, stale
    uploads, old job folders and finished studies' checkpoints; the bytes freed per category."""
    return collect(s.store, dry_run=dry_run, by=caller.actor).to_dict()

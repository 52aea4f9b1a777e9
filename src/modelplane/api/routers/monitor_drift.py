"""/api/v1/deployments/{name}/drift: drift of a deployment's logged window against each version's profile."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from modelplane.api.deps import ControlState, require, state
from modelplane.security.principal import Principal

router = APIRouter(tags=["monitoring"])


@router.get("/deployments/{name}/drift")
def deployment_drift(
    name: str,
    window: str = "1h",
    caller: Principal = require("deployments:read"),
    s: ControlState = Depends(state),
) -> dict[str, Any]:
    """One report per version that answered in the last `window` (e.g. 15m, 1h, 1d)."""
    from modelplane.monitoring.drift_window import compute_drift
    from modelplane.monitoring.settings import parse_duration

    span = parse_duration(window, "window")
    reports = compute_drift(s.store, s.store.settings.home, name, window=span)
    return {"deployment": name, "window": window, "reports": [r.model_dump(mode="json") for r in reports]}

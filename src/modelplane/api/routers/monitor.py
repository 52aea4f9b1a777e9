"""/api/v1/deployments/{name}/windows and .../monitor: what the monitor found, and a monitor run now."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from modelplane.api.deps import ControlState, require, state
from modelplane.monitoring.windows import list_windows
from modelplane.security.principal import Principal
from modelplane.serving.deployments import get_deployment

router = APIRouter(tags=["monitoring"])


@router.get("/deployments/{name}/windows")
def monitor_windows(
    name: str,
    limit: int = Query(50, ge=1, le=5000, description="Newest windows to return"),
    caller: Principal = require("deployments:read"),
    s: ControlState = Depends(state),
) -> dict[str, Any]:
    get_deployment(s.store, name)  # 404 for a name that is not deployed
    return {"items": [w.to_dict() for w in list_windows(s.store, name, limit=limit)]}


@router.post("/deployments/{name}/monitor")
async def monitor_run(
    name: str, caller: Principal = require("deploy"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    """Compute the deployment's monitor window now (as its scheduled job does), store it and evaluate its
    alert rules; answers the windows, one per served version."""
    from modelplane.monitoring.monitor import run_monitor  # the statistics' imports: only when asked

    windows = await run_in_threadpool(run_monitor, s.store, name)
    return {"items": [w.to_dict() for w in windows]}

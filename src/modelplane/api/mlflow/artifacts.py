"""MLflow's artifact proxy (/api/2.0/mlflow-artifacts/artifacts/...): what `mlflow-artifacts:/` URIs reach.

The client uploads and downloads a run's (or a logged model's) files here; they are kept by the platform,
content-addressed, under the run that owns the path (training/tracking_artifacts.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from modelplane.api.deps import ControlState, require, state
from modelplane.api.mlflow.bodies import spooled
from modelplane.api.mlflow.shapes import MlflowRoute
from modelplane.security.principal import Principal
from modelplane.training import tracking_artifacts as files

router = APIRouter(route_class=MlflowRoute)


@router.get("/artifacts")
def artifacts_list(
    path: str = Query("", description="The folder to list"),
    caller: Principal = require("models:read"),
    s: ControlState = Depends(state),
) -> dict[str, Any]:
    """The folder's direct children; a file (or a path that holds nothing) lists as empty."""
    if not path.strip("/"):
        return {"files": []}
    entries = files.list_files(s.store, path)
    return {
        "files": [
            {"path": e.path, "is_dir": e.is_dir, **({} if e.size is None else {"file_size": e.size})}
            for e in entries
        ]
    }


@router.put("/artifacts/{path:path}")
async def artifacts_put(
    path: str, request: Request, caller: Principal = require("train"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    async with spooled(request) as body:
        await run_in_threadpool(files.put_file, s.store, path, body)
    return {}


@router.get("/artifacts/{path:path}")
def artifacts_get(
    path: str, caller: Principal = require("models:read"), s: ControlState = Depends(state)
) -> Response:
    return Response(files.read_file(s.store, path), media_type="application/octet-stream")

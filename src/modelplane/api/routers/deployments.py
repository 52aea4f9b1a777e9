"""/api/v1/deployments: what the data plane serves; a running server picks changes up within a second."""

from __future__ import annotations

import shutil
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict
from starlette.background import BackgroundTask

from modelplane.api.deps import ControlState, Page, page, require, state
from modelplane.security.principal import Principal
from modelplane.serving.deployments import (
    default_name,
    delete_deployment,
    get_deployment,
    list_deployments,
    parse_spec,
    save_deployment,
)

router = APIRouter(tags=["deployments"])


class DeployRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    spec: dict[
        str, Any
    ]  # {"model": "digits-cnn@production", "canary": {...}, "batching": {...}} or an ensemble
    name: str | None = None


@router.get("/deployments")
def deployments_list(
    pages: Page = Depends(page),
    caller: Principal = require("deployments:read"),
    s: ControlState = Depends(state),
) -> dict[str, Any]:
    return pages.of(list_deployments(s.store))


@router.get("/deployments/{name}")
def deployments_get(
    name: str, caller: Principal = require("deployments:read"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    return get_deployment(s.store, name).to_dict()


@router.post("/deployments", status_code=201)
def deployments_save(
    body: DeployRequest, caller: Principal = require("deploy"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    """Create or replace a deployment; every ref must resolve now, and it must fit the memory budget of
    the data plane beside this control plane (`up --memory-budget`), or nothing is saved."""
    spec = parse_spec(body.spec)
    if s.admit is not None:
        s.admit(body.name or default_name(spec), spec)
    return save_deployment(s.store, spec, name=body.name, by=caller.actor).to_dict()


@router.delete("/deployments/{name}", status_code=204)
def deployments_delete(
    name: str, caller: Principal = require("deploy"), s: ControlState = Depends(state)
) -> None:
    delete_deployment(s.store, name, by=caller.actor)


@router.get(
    "/deployments/{name}/package",
    response_class=FileResponse,
    responses={200: {"content": {"application/gzip": {}}, "description": "the package, .tar.gz"}},
)
def deployments_package(
    name: str,
    image: str | None = None,
    min_replicas: int | None = Query(None, ge=1, le=1000),
    max_replicas: int | None = Query(None, ge=1, le=1000),
    caller: Principal = require("models:read"),
    s: ControlState = Depends(state),
) -> FileResponse:
    """The deployment as a package (`modelplane package`), one .tar.gz. Gated like a version's export: it
    carries the versions' files in plaintext."""
    from modelplane.packaging.archive import package_archive

    archive, scratch = package_archive(
        s.store, name, image=image, min_replicas=min_replicas, max_replicas=max_replicas
    )
    return FileResponse(
        archive,
        media_type="application/gzip",
        filename=archive.name,
        background=BackgroundTask(shutil.rmtree, scratch, ignore_errors=True),
    )

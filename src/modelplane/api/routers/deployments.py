"""/api/v1/deployments: what the data plane serves; a running server picks changes up within a second."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict

from modelplane.api.deps import ControlState, Page, page, require, state
from modelplane.security.principal import Principal
from modelplane.serving.deployments import (
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
    """Create or replace a deployment; every ref must resolve now, or nothing is saved."""
    return save_deployment(s.store, parse_spec(body.spec), name=body.name, by=caller.actor).to_dict()


@router.delete("/deployments/{name}", status_code=204)
def deployments_delete(
    name: str, caller: Principal = require("deploy"), s: ControlState = Depends(state)
) -> None:
    delete_deployment(s.store, name, by=caller.actor)

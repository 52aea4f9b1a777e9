"""/api/v1/models and /api/v1/versions: the registry — versions, aliases, deletion and export."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from modelplane.api.deps import ControlState, Page, page, require, state
from modelplane.registry.deletion import delete_model
from modelplane.registry.export_files import export_version
from modelplane.registry.registry import (
    delete_version,
    get_model,
    get_version,
    list_models,
    remove_alias,
    set_alias,
)
from modelplane.registry.retention import set_retention
from modelplane.security.principal import Principal

router = APIRouter(tags=["models"])


class RetentionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keep_last: int = Field(ge=1)
    keep_aliased: bool = False


class AliasTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str  # NAME@VERSION (or NAME@ALIAS: copy another alias)


@router.get("/models")
def models_list(
    pages: Page = Depends(page), caller: Principal = require("models:read"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    return pages.of(list_models(s.store))


@router.get("/models/{name}")
def models_get(
    name: str, caller: Principal = require("models:read"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    return get_model(s.store, name).to_dict()


@router.put("/models/{name}/aliases/{alias}")
def models_alias(
    name: str,
    alias: str,
    body: AliasTarget,
    caller: Principal = require("models:write"),
    s: ControlState = Depends(state),
) -> dict[str, Any]:
    target = body.version if "@" in body.version else f"{name}@{body.version}"
    return set_alias(s.store, target, alias, by=caller.actor).to_dict()


@router.delete("/models/{name}/aliases/{alias}", status_code=204)
def models_unalias(
    name: str, alias: str, caller: Principal = require("models:write"), s: ControlState = Depends(state)
) -> None:
    remove_alias(s.store, name, alias, by=caller.actor)


@router.get("/versions/{ref}")
def versions_get(
    ref: str, caller: Principal = require("models:read"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    return get_version(s.store, ref).to_dict()


@router.delete("/versions/{ref}", status_code=204)
def versions_delete(
    ref: str, caller: Principal = require("models:write"), s: ControlState = Depends(state)
) -> None:
    delete_version(s.store, ref, by=caller.actor)


@router.get("/versions/{ref}/export", response_class=Response)
def versions_export(
    ref: str,
    format: str = Query("onnx", description="onnx or torchscript"),
    caller: Principal = require("models:read"),
    s: ControlState = Depends(state),
) -> Response:
    """The exported files (model + JSON card) as one zip."""
    with tempfile.TemporaryDirectory(dir=s.store.artifacts.tmp_dir) as scratch:
        paths = export_version(s.store, ref, format, Path(scratch))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in paths:
                archive.write(path, path.name)
    return Response(buffer.getvalue(), media_type="application/zip")


@router.delete("/models/{name}")
def models_delete(
    name: str,
    force: bool = Query(
        False, description="Also when child versions in other models or a retrain policy hold it"
    ),
    caller: Principal = require("models:write"),
    s: ControlState = Depends(state),
) -> dict[str, Any]:
    """Delete a whole model (aliases, versions, name); 409 naming what holds it."""
    return {"deleted": name, "versions": delete_model(s.store, name, force=force, by=caller.actor)}


@router.put("/models/{name}/retention")
def models_retain(
    name: str,
    body: RetentionBody,
    caller: Principal = require("models:write"),
    s: ControlState = Depends(state),
) -> dict[str, Any]:
    """Keep the newest `keep_last` versions nothing holds; applied now, on every registration and by gc."""
    _policy, retired = set_retention(
        s.store, name, keep_last=body.keep_last, keep_aliased=body.keep_aliased, by=caller.actor
    )
    return {"retired": retired}


@router.delete("/models/{name}/retention")
def models_retain_off(
    name: str, caller: Principal = require("models:write"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    set_retention(s.store, name, keep_last=None, by=caller.actor)
    return {"retired": []}

"""/api/v1/studies, /api/v1/compressions and /api/v1/comparisons: tuning and compression, run as jobs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from modelplane.api.deps import ControlState, Page, page, require, state
from modelplane.compression.compare import compare_versions
from modelplane.jobs.compress import submit_compress
from modelplane.jobs.tune import submit_tune
from modelplane.security.principal import Principal
from modelplane.tuning.catalog import get_study, list_studies

router = APIRouter(tags=["tuning and compression"])


class CompressionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ref: str
    request: dict[str, Any]  # {"quantize": "int8", "mode": "dynamic"}, {"prune": 0.6, ...}, {"distill": ...}


class ComparisonRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refs: list[str] = Field(min_length=1)


@router.post("/studies", status_code=202)
def studies_start(
    body: dict[str, Any], caller: Principal = require("train"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    """A tune config (a new study, checked now) or {"resume": NAME, "parallel"?, "timeout"?}: the job."""
    return submit_tune(s.store, body, by=caller.actor).to_dict()


@router.get("/studies")
def studies_list(
    pages: Page = Depends(page), caller: Principal = require("models:read"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    return pages.of(list_studies(s.store))


@router.get("/studies/{name}")
def studies_get(
    name: str, caller: Principal = require("models:read"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    return get_study(s.store, name).to_dict()


@router.post("/compressions", status_code=202)
def compressions_start(
    body: CompressionRequest, caller: Principal = require("train"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    """Checked now; a worker makes the smaller version. Returns the job (its result: version and report)."""
    return submit_compress(s.store, body.ref, body.request, by=caller.actor).to_dict()


@router.post("/comparisons")
def comparisons(
    body: ComparisonRequest, caller: Principal = require("models:read"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    return compare_versions(s.store, body.refs).to_dict()


@router.delete("/studies/{name}", status_code=204)
def studies_delete(name: str, caller: Principal = require("train"), s: ControlState = Depends(state)) -> None:
    """Delete a study and its trials' checkpoints; 409 while it is searched."""
    from modelplane.tuning.deletion import delete_study

    delete_study(s.store, name, by=caller.actor)

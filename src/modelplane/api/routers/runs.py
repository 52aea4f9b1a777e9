"""/api/v1/runs and /api/v1/evaluations: training (answered at once, run as a job), metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict

from modelplane.api.deps import ControlState, Page, page, require, state
from modelplane.evaluation.versions import evaluate_version
from modelplane.jobs.train import submit_resume, submit_train
from modelplane.security.principal import Principal
from modelplane.training.run_catalog import get_run, list_runs
from modelplane.training.run_deletion import delete_run
from modelplane.training.runs import parse_run_config

router = APIRouter(tags=["runs"])


class Evaluation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str
    data: str
    split: str = "test"
    runtime: str = "onnx"


@router.post("/runs", status_code=202)
def runs_start(
    body: dict[str, Any], caller: Principal = require("train"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    """A run config (as `train --config` takes); answers at once with the run (status `queued`) and
    `job_id`, the job that trains it (GET /api/v1/jobs/{job_id})."""
    job = submit_train(s.store, parse_run_config(body), by=caller.actor)
    return {**get_run(s.store, job.params["run_id"]).to_dict(), "job_id": job.id}


@router.post("/runs/{run_id}/resume", status_code=202)
def runs_resume(
    run_id: str, caller: Principal = require("train"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    """Queue a job that continues a failed or interrupted run from its last checkpoint."""
    job = submit_resume(s.store, run_id, by=caller.actor)
    return {**get_run(s.store, job.params["run_id"]).to_dict(), "job_id": job.id}


@router.get("/runs")
def runs_list(
    model: str | None = Query(None, description="Only runs of this model name"),
    pages: Page = Depends(page),
    caller: Principal = require("models:read"),
    s: ControlState = Depends(state),
) -> dict[str, Any]:
    return pages.of(list_runs(s.store, limit=pages.offset + pages.limit, model=model))


@router.get("/runs/{run_id}")
def runs_get(
    run_id: str, caller: Principal = require("models:read"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    return get_run(s.store, run_id).to_dict()


@router.post("/evaluations")
def evaluations_run(
    body: Evaluation, caller: Principal = require("models:read"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    return evaluate_version(s.store, body.model, body.data, split=body.split, runtime=body.runtime).to_dict()


@router.delete("/runs/{run_id}", status_code=204)
def runs_delete(run_id: str, caller: Principal = require("train"), s: ControlState = Depends(state)) -> None:
    """Delete a run, its metrics and checkpoints; 409 while a live version came from it or it trains."""
    delete_run(s.store, run_id, by=caller.actor)

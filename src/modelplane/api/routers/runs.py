"""/api/v1/runs and /api/v1/evaluations: training (answered at once, run as a job), metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from modelplane.api.deps import ControlState, Page, page, require, state
from modelplane.api.mlflow.bodies import spooled
from modelplane.evaluation.versions import evaluate_version
from modelplane.jobs.train import submit_resume, submit_train
from modelplane.security.principal import Principal
from modelplane.training import tracking as tracked
from modelplane.training.run_catalog import get_run, list_runs
from modelplane.training.run_deletion import delete_run
from modelplane.training.run_handle import MetricPoint
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


class TrackedStart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    experiment: str | None = None
    params: dict[str, Any] = {}
    tags: dict[str, Any] = {}


class Point(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str
    value: float
    step: int = 0
    timestamp_ms: int | None = None


class TrackedLog(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metrics: list[Point] = []
    params: dict[str, Any] = {}
    tags: dict[str, Any] = {}


class TrackedEnd(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str = "succeeded"
    error: str | None = None


class TrackedRegister(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    artifact: str = Field(description="The path of a file or folder the run logged")
    task: str | None = None
    classes: list[str] | None = None


@router.post("/runs/tracked", status_code=201)
def runs_track(
    body: TrackedStart, caller: Principal = require("train"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    """Start a run your own code tracks (status `running`); log to it with the routes below."""
    run_id = tracked.start(
        s.store, body.name, experiment=body.experiment, params=body.params, tags=body.tags, by=caller.actor
    )
    return get_run(s.store, run_id).to_dict()


@router.post("/runs/{run_id}/log", status_code=204)
def runs_log(
    run_id: str, body: TrackedLog, caller: Principal = require("train"), s: ControlState = Depends(state)
) -> None:
    """Metric points, params (fixed once logged) and tags of a tracked run."""
    points = [MetricPoint(p.key, p.value, p.step, p.timestamp_ms) for p in body.metrics]
    tracked.log_run(s.store, run_id, metrics=points, params=body.params, tags=body.tags)


@router.post("/runs/{run_id}/end")
def runs_end(
    run_id: str, body: TrackedEnd, caller: Principal = require("train"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    return tracked.end_run(s.store, run_id, body.status, error=body.error).to_dict()


@router.put("/runs/{run_id}/artifacts", status_code=201)
async def runs_artifact(
    run_id: str,
    request: Request,
    path: str = Query(description="Where the file goes within the run, e.g. plots/loss.png"),
    caller: Principal = require("train"),
    s: ControlState = Depends(state),
) -> dict[str, Any]:
    """The request body stored as the run's file at `path`."""
    async with spooled(request) as body:
        stored = await run_in_threadpool(tracked.upload, s.store, run_id, path, body)
    return {"path": stored}


@router.post("/runs/{run_id}/register", status_code=201)
def runs_register(
    run_id: str,
    body: TrackedRegister,
    caller: Principal = require("models:write"),
    s: ControlState = Depends(state),
) -> dict[str, Any]:
    """Import a model file or MLflow model folder the run logged as a new version of `name`."""
    version = tracked.register(
        s.store, run_id, body.artifact, body.name, task=body.task, classes=body.classes, by=caller.actor
    )
    return version.to_dict()


@router.post("/evaluations")
def evaluations_run(
    body: Evaluation, caller: Principal = require("models:read"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    return evaluate_version(s.store, body.model, body.data, split=body.split, runtime=body.runtime).to_dict()


@router.delete("/runs/{run_id}", status_code=204)
def runs_delete(run_id: str, caller: Principal = require("train"), s: ControlState = Depends(state)) -> None:
    """Delete a run, its metrics and checkpoints; 409 while a live version came from it or it trains."""
    delete_run(s.store, run_id, by=caller.actor)

"""MLflow tracking routes: experiments, runs, metrics, params, tags, logged models (/api/2.0/mlflow/...)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi import APIRouter, Body, Depends, Query
from sqlalchemy import select

from modelplane.api.deps import ControlState, require, state
from modelplane.api.mlflow import search, shapes
from modelplane.errors import Invalid, NotFound
from modelplane.security.principal import Principal
from modelplane.store.orm import Experiment, LoggedModel, Run, utcnow
from modelplane.training import tracking_store as tracking
from modelplane.training.run_handle import MetricPoint
from modelplane.training.tracking_store import STATUS_FROM_MLFLOW

router = APIRouter(route_class=shapes.MlflowRoute)
Json = dict[str, Any]
MODEL_STATES = ("LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED")


def _int(body: Json, name: str) -> int | None:
    """An int64 field: proto JSON may send it as a string."""
    value = body.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Invalid(f"parameter '{name}' must be an integer, got {value!r}") from None


def _limit(body: Json) -> int:
    return max(1, min(_int(body, "max_results") or 1000, 50_000))


def _field(body: Json, name: str) -> Any:
    if body.get(name) in (None, ""):
        raise Invalid(f"missing value for required parameter '{name}'")
    return body[name]


def _run_id(body: Json) -> Any:
    """The run a request names: `run_id`, or `run_uuid`, which older MLflow clients send instead."""
    return body.get("run_id") or _field(body, "run_uuid")


# --- experiments -------------------------------------------------------------------------------------


@router.get("/experiments/get-by-name")
def experiment_by_name(
    experiment_name: str, caller: Principal = require("models:read"), s: ControlState = Depends(state)
) -> Json:
    with s.store.db.session() as session:
        row = tracking.experiment_by_name(session, experiment_name)
        if row is None:
            raise NotFound(f"Could not find experiment with name '{experiment_name}'")
        return {"experiment": shapes.experiment(row)}


@router.get("/experiments/get")
def experiment_get(
    experiment_id: str, caller: Principal = require("models:read"), s: ControlState = Depends(state)
) -> Json:
    with s.store.db.session() as session:
        return {"experiment": shapes.experiment(tracking.experiment_by_id(session, experiment_id))}


@router.post("/experiments/create")
def experiment_create(
    body: Json = Body(...), caller: Principal = require("train"), s: ControlState = Depends(state)
) -> Json:
    with s.store.db.session() as session:
        row = tracking.create_experiment(
            session, _field(body, "name"), tags=shapes.pairs(body.get("tags")), by=caller.actor
        )
        return {"experiment_id": str(row.id)}


@router.post("/experiments/search")
def experiment_search(
    body: Json = Body(default_factory=dict),
    caller: Principal = require("models:read"),
    s: ControlState = Depends(state),
) -> Json:
    """Every experiment, oldest first, up to `max_results` (filter strings are not supported)."""
    if body.get("filter"):
        raise Invalid("experiment filters are not supported here; search without `filter_string`")
    limit = _limit(body)
    with s.store.db.session() as session:
        tracking.default_experiment(session)
        rows = session.scalars(select(Experiment).order_by(Experiment.id).limit(limit)).all()
        return {"experiments": [shapes.experiment(r) for r in rows]}


# --- runs --------------------------------------------------------------------------------------------


def _run(s: ControlState, run_id: str) -> Json:
    with s.store.db.session() as session:
        row = session.get(Run, run_id)
        if row is None:
            raise NotFound(f"Run with id={run_id} not found")
        models = session.scalars(select(LoggedModel).where(LoggedModel.run_id == row.id)).all()
        return shapes.run(row, list(models))


@router.post("/runs/create")
def run_create(
    body: Json = Body(...), caller: Principal = require("train"), s: ControlState = Depends(state)
) -> Json:
    with s.store.db.session() as session:
        found = tracking.experiment_by_id(session, body.get("experiment_id") or 0)
        tags = shapes.pairs(body.get("tags"))
        name = body.get("run_name") or tags.get("mlflow.runName")
        row = tracking.create_run(
            session, found, name=name, tags=tags, start_ms=_int(body, "start_time"), by=caller.actor
        )
        run_id = row.id
    return {"run": _run(s, run_id)}


@router.get("/runs/get")
def run_get(
    run_id: str = Query(...),
    caller: Principal = require("models:read"),
    s: ControlState = Depends(state),
) -> Json:
    return {"run": _run(s, run_id)}


@router.post("/runs/update")
def run_update(
    body: Json = Body(...), caller: Principal = require("train"), s: ControlState = Depends(state)
) -> Json:
    run_id = _run_id(body)
    with s.store.db.session() as session:
        row = tracking.tracked_run(session, run_id)
        if body.get("run_name"):
            row.name = body["run_name"]
        if body.get("status"):
            status = STATUS_FROM_MLFLOW.get(body["status"])
            if status is None:
                raise Invalid(
                    f"unknown run status {body['status']!r}; use one of {', '.join(STATUS_FROM_MLFLOW)}"
                )
            tracking.end(session, row, status, end_ms=_int(body, "end_time"))
    return {"run_info": _run(s, run_id)["info"]}


@router.post("/runs/search")
def run_search(
    body: Json = Body(default_factory=dict),
    caller: Principal = require("models:read"),
    s: ControlState = Depends(state),
) -> Json:
    """Runs of the given experiments, newest first, filtered and ordered as api/mlflow/search.py reads."""
    ids = [_int({"experiment_ids": e}, "experiment_ids") for e in body.get("experiment_ids") or []]
    query = select(Run.id).where(Run.kind == tracking.TRACKED).order_by(Run.started_at.desc())
    if ids:
        query = query.where(Run.experiment_id.in_(ids))
    with s.store.db.session() as session:
        run_ids = list(session.scalars(query))
    runs = search.matching([_run(s, r) for r in run_ids], str(body.get("filter") or ""))
    return {"runs": search.ordered(runs, list(body.get("order_by") or []))[: _limit(body)]}


def _log(s: ControlState, run_id: str, **what: Any) -> Json:
    with s.store.db.session() as session:
        tracking.log(session, tracking.tracked_run(session, run_id), **what)
    return {}


def _point(item: Json) -> MetricPoint:
    return MetricPoint(
        str(_field(item, "key")), _field(item, "value"), _int(item, "step") or 0, _int(item, "timestamp")
    )


@router.post("/runs/log-batch")
def run_log_batch(
    body: Json = Body(...), caller: Principal = require("train"), s: ControlState = Depends(state)
) -> Json:
    return _log(
        s,
        _field(body, "run_id"),
        metrics=[_point(m) for m in body.get("metrics") or []],
        params=shapes.pairs(body.get("params")),
        tags=shapes.pairs(body.get("tags")),
    )


@router.post("/runs/log-metric")
def run_log_metric(
    body: Json = Body(...), caller: Principal = require("train"), s: ControlState = Depends(state)
) -> Json:
    return _log(s, _run_id(body), metrics=[_point(body)])


@router.post("/runs/log-parameter")
def run_log_param(
    body: Json = Body(...), caller: Principal = require("train"), s: ControlState = Depends(state)
) -> Json:
    return _log(s, _run_id(body), params={_field(body, "key"): body.get("value", "")})


@router.post("/runs/set-tag")
def run_set_tag(
    body: Json = Body(...), caller: Principal = require("train"), s: ControlState = Depends(state)
) -> Json:
    return _log(s, _run_id(body), tags={_field(body, "key"): body.get("value", "")})


@router.post("/runs/outputs")
def run_outputs(
    body: Json = Body(...), caller: Principal = require("train"), s: ControlState = Depends(state)
) -> Json:
    """Mark logged models as the run's outputs (their `source_run_id` becomes this run)."""
    with s.store.db.session() as session:
        row = tracking.tracked_run(session, _field(body, "run_id"))
        for item in body.get("models") or []:
            model = _model(session, _field(item, "model_id"))
            model.run_id = row.id
    return {}


@router.post("/runs/log-inputs")
def run_inputs(
    body: Json = Body(...), caller: Principal = require("train"), s: ControlState = Depends(state)
) -> Json:
    """The datasets (name, digest, source, schema) and models a run used, each recorded once."""
    with s.store.db.session() as session:
        row = tracking.tracked_run(session, _field(body, "run_id"))
        for item in body.get("models") or []:
            _model(session, _field(item, "model_id"))
        tracking.add_inputs(row, datasets=body.get("datasets") or [], models=body.get("models") or [])
    return {}


@router.get("/metrics/get-history")
def metric_history(
    run_id: str, metric_key: str, caller: Principal = require("models:read"), s: ControlState = Depends(state)
) -> Json:
    points = tracking.metric_history(s.store, run_id, metric_key)
    return {
        "metrics": [
            {"key": p.name, "value": p.value, "step": p.step, "timestamp": p.timestamp_ms} for p in points
        ]
    }


# --- logged models (MLflow 3: what log_model creates) -------------------------------------------------


def _model(session: Any, model_id: str) -> LoggedModel:
    row = session.get(LoggedModel, model_id)
    if row is None:
        raise NotFound(f"Logged model with ID '{model_id}' not found")
    return row


@router.post("/logged-models")
def model_create(
    body: Json = Body(...), caller: Principal = require("train"), s: ControlState = Depends(state)
) -> Json:
    with s.store.db.session() as session:
        found = tracking.experiment_by_id(session, _field(body, "experiment_id"))
        run_id = body.get("source_run_id") or None
        if run_id is not None:
            tracking.tracked_run(session, run_id)
        row = LoggedModel(
            id=f"m-{uuid.uuid4().hex}",
            experiment_id=found.id,
            run_id=run_id,
            name=body.get("name") or "model",
            model_type=body.get("model_type") or None,
            status="LOGGED_MODEL_PENDING",
            params=shapes.pairs(body.get("params")),
            tags=shapes.pairs(body.get("tags")),
        )
        session.add(row)
        session.flush()
        return {"model": shapes.logged_model(row)}


_MODEL_CLAUSE = re.compile(r"^\s*(name|source_run_id)\s*=\s*'([^']*)'\s*$")


@router.post("/logged-models/search")
def model_search(
    body: Json = Body(default_factory=dict),
    caller: Principal = require("models:read"),
    s: ControlState = Depends(state),
) -> Json:
    """Logged models of the given experiments, newest first; `filter` may be `name = '...'` and/or
    `source_run_id = '...'` joined by AND (what `mlflow.register_model("runs:/...")` sends)."""
    query = select(LoggedModel).order_by(LoggedModel.created_at.desc())
    ids = [_int({"experiment_ids": e}, "experiment_ids") for e in body.get("experiment_ids") or []]
    if ids:
        query = query.where(LoggedModel.experiment_id.in_(ids))
    text = str(body.get("filter") or "").strip()
    for clause in re.split(r"\s+AND\s+", text, flags=re.IGNORECASE) if text else []:
        found = _MODEL_CLAUSE.match(clause)
        if found is None:
            raise Invalid(f"cannot read the filter {clause!r}; use name = '...' and/or source_run_id = '...'")
        column = LoggedModel.name if found[1] == "name" else LoggedModel.run_id
        query = query.where(column == found[2])
    with s.store.db.session() as session:
        rows = session.scalars(query.limit(_limit(body))).all()
        return {"models": [shapes.logged_model(r) for r in rows]}


@router.get("/logged-models/{model_id}")
def model_get(
    model_id: str, caller: Principal = require("models:read"), s: ControlState = Depends(state)
) -> Json:
    with s.store.db.session() as session:
        return {"model": shapes.logged_model(_model(session, model_id))}


@router.patch("/logged-models/{model_id}")
def model_finalize(
    model_id: str,
    body: Json = Body(...),
    caller: Principal = require("train"),
    s: ControlState = Depends(state),
) -> Json:
    status = _field(body, "status")
    if status not in MODEL_STATES:
        raise Invalid(f"unknown logged model status {status!r}; use one of {', '.join(MODEL_STATES)}")
    with s.store.db.session() as session:
        row = _model(session, model_id)
        row.status, row.updated_at = status, utcnow()
        return {"model": shapes.logged_model(row)}


@router.patch("/logged-models/{model_id}/tags")
def model_tags(
    model_id: str,
    body: Json = Body(...),
    caller: Principal = require("train"),
    s: ControlState = Depends(state),
) -> Json:
    with s.store.db.session() as session:
        row = _model(session, model_id)
        row.tags = {**row.tags, **shapes.pairs(body.get("tags"))}
        row.updated_at = utcnow()
    return {}


@router.post("/logged-models/{model_id}/params")
def model_params(
    model_id: str,
    body: Json = Body(...),
    caller: Principal = require("train"),
    s: ControlState = Depends(state),
) -> Json:
    with s.store.db.session() as session:
        row = _model(session, model_id)
        row.params = {**row.params, **shapes.pairs(body.get("params"))}
        row.updated_at = utcnow()
    return {}

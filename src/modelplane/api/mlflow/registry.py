"""MLflow's model registry over modelplane's: registered models are modelplane models, and a model version
created from a run's logged model is imported (registry/imports.py) as a modelplane version, deployable,
with lineage to the run. A registered model comes into being with its first version: `create` of a new
name answers as MLflow does but records nothing until a version is created (modelplane models have a task,
known only from a version's files)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Query
from sqlalchemy import select

from modelplane.api.deps import ControlState, require, state
from modelplane.api.mlflow.shapes import MlflowRoute, artifact_uri, key_values
from modelplane.errors import Conflict, Invalid, NotFound
from modelplane.registry.registry import get_model, get_version, list_models, remove_alias, set_alias
from modelplane.registry.views import ModelInfo, ModelVersionInfo
from modelplane.security.principal import Principal
from modelplane.store import Store
from modelplane.store.orm import LoggedModel, Run
from modelplane.training import tracking_artifacts as files
from modelplane.training.tracking import register_from
from modelplane.training.tracking_store import to_ms

router = APIRouter(route_class=MlflowRoute)
Json = dict[str, Any]


def _version(info: ModelVersionInfo, source: str = "") -> Json:
    created = to_ms(info.created_at)
    return {
        "name": info.model,
        "version": str(info.version),
        "creation_timestamp": created,
        "last_updated_timestamp": created,
        "user_id": info.created_by,
        "current_stage": "None",
        "description": "",
        "source": source,
        "run_id": info.run_id or "",
        "status": "READY",
        "aliases": list(info.aliases),
        "tags": [],
    }


def _model(info: ModelInfo) -> Json:
    created = to_ms(info.created_at)
    return {
        "name": info.name,
        "creation_timestamp": created,
        "last_updated_timestamp": to_ms(info.latest.created_at) if info.latest else created,
        "latest_versions": [_version(info.latest)] if info.latest else [],
        "aliases": [{"alias": a, "version": str(v)} for a, v in sorted(info.aliases.items())],
        "tags": key_values({}),
    }


def _exists(store: Store, name: str) -> ModelInfo | None:
    try:
        return get_model(store, name)
    except NotFound:
        return None


@router.post("/registered-models/create")
def model_create(
    body: Json = Body(...), caller: Principal = require("models:write"), s: ControlState = Depends(state)
) -> Json:
    name = str(body.get("name") or "")
    if not name:
        raise Invalid("missing value for required parameter 'name'")
    if _exists(s.store, name) is not None:
        raise Conflict(f"Registered Model (name={name}) already exists; create a new version of it instead")
    return {"registered_model": {"name": name, "latest_versions": [], "aliases": [], "tags": []}}


@router.get("/registered-models/get")
def model_get(
    name: str, caller: Principal = require("models:read"), s: ControlState = Depends(state)
) -> Json:
    return {"registered_model": _model(get_model(s.store, name))}


@router.get("/registered-models/search")
def model_search(caller: Principal = require("models:read"), s: ControlState = Depends(state)) -> Json:
    return {"registered_models": [_model(m) for m in list_models(s.store)]}


@router.post("/registered-models/get-latest-versions")
def model_latest(
    body: Json = Body(...), caller: Principal = require("models:read"), s: ControlState = Depends(state)
) -> Json:
    latest = get_model(s.store, str(body.get("name") or "")).latest
    return {"model_versions": [_version(latest)] if latest else []}


VERSIONS_TAG = "modelplane.versions"  # on a logged model: the versions made from it, "name@1,name@2"


def _source_path(store: Store, source: str, model_id: str | None) -> tuple[str, str | None]:
    """The artifact folder a version's `source` names, and the run that logged it."""
    with store.db.session() as session:
        if source.startswith("models:/") or model_id:
            model = session.get(LoggedModel, _logged_model_id(source, model_id))
            if model is None:
                raise NotFound(f"logged model {source!r} not found; log the model in a run first")
            return files.model_root(model), model.run_id
        if source.startswith("runs:/"):
            run_id, _, sub = source.removeprefix("runs:/").partition("/")
            run = session.get(Run, run_id)
            if run is None:
                raise NotFound(f"run {run_id!r} not found; log the model in a run first")
            return f"{files.run_root(run)}/{sub}".rstrip("/"), run.id
        if source.startswith("mlflow-artifacts:/"):
            path = files.clean_path(source.removeprefix("mlflow-artifacts:").lstrip("/"))
            return path, files.owner_of(store, path)
    raise Invalid(
        f"model version source {source!r} is not stored on this server; log the model to a run here "
        "(mlflow.<flavor>.log_model) and register that"
    )


def _logged_model_id(source: str, model_id: str | None) -> str:
    return model_id or source.removeprefix("models:/").split("/")[0]


def _record_version(store: Store, model_id: str, ref: str) -> None:
    """Remember which logged model a version came from: its source, and where MLflow downloads it from."""
    with store.db.session() as session:
        model = session.get(LoggedModel, model_id)
        if model is not None:
            made = [r for r in model.tags.get(VERSIONS_TAG, "").split(",") if r]
            model.tags = {**model.tags, VERSIONS_TAG: ",".join([*made, ref])}


def _logged_model_of(store: Store, info: ModelVersionInfo) -> LoggedModel | None:
    if info.run_id is None:
        return None
    with store.db.session() as session:
        for model in session.scalars(select(LoggedModel).where(LoggedModel.run_id == info.run_id)):
            if info.ref in model.tags.get(VERSIONS_TAG, "").split(","):
                session.expunge(model)
                return model
    return None


def _described(store: Store, info: ModelVersionInfo) -> Json:
    model = _logged_model_of(store, info)
    return {**_version(info, f"models:/{model.id}"), "model_id": model.id} if model else _version(info)


@router.post("/model-versions/create")
def version_create(
    body: Json = Body(...), caller: Principal = require("models:write"), s: ControlState = Depends(state)
) -> Json:
    """Import the logged model `source` names as a new modelplane version of `name`; its lineage is the
    run that logged those files."""
    name, source = str(body.get("name") or ""), str(body.get("source") or "")
    if not name or not source:
        raise Invalid("missing value for required parameter 'name' or 'source'")
    model_id = body.get("model_id") or None
    path, run_id = _source_path(s.store, source, model_id)
    version = register_from(s.store, run_id, path, name, by=caller.actor)
    if source.startswith("models:/") or model_id:
        _record_version(s.store, _logged_model_id(source, model_id), version.ref)
    return {"model_version": _version(version, source)}


@router.get("/model-versions/get")
def version_get(
    name: str, version: str, caller: Principal = require("models:read"), s: ControlState = Depends(state)
) -> Json:
    return {"model_version": _described(s.store, get_version(s.store, f"{name}@{version}"))}


@router.get("/model-versions/get-download-uri")
def version_download_uri(
    name: str, version: str, caller: Principal = require("models:read"), s: ControlState = Depends(state)
) -> Json:
    """Where MLflow's client downloads the version's files from: the logged model it was created from."""
    info = get_version(s.store, f"{name}@{version}")
    model = _logged_model_of(s.store, info)
    if model is None:
        raise NotFound(
            f"{info.ref} was not created from an MLflow logged model here; fetch its files with "
            f"`modelplane export {info.ref}`"
        )
    return {"artifact_uri": artifact_uri(files.model_root(model))}


@router.get("/model-versions/search")
def version_search(
    filter: str = Query("", description="name='MODEL'"),
    caller: Principal = require("models:read"),
    s: ControlState = Depends(state),
) -> Json:
    """Versions of one model (`filter`: `name='MODEL'`) or of all."""
    text = filter.strip()
    if text and not (text.startswith("name=") or text.startswith("name =")):
        raise Invalid(f"filter {text!r} is not supported; use name='MODEL'")
    name = text.partition("=")[2].strip().strip("'\"") if text else None
    models = [get_model(s.store, name)] if name else list_models(s.store)
    return {"model_versions": [_version(v) for m in models for v in m.versions]}


@router.post("/registered-models/alias")
def alias_set(
    body: Json = Body(...), caller: Principal = require("models:write"), s: ControlState = Depends(state)
) -> Json:
    set_alias(
        s.store, f"{body.get('name')}@{body.get('version')}", str(body.get("alias") or ""), by=caller.actor
    )
    return {}


@router.delete("/registered-models/alias")
def alias_delete(
    name: str, alias: str, caller: Principal = require("models:write"), s: ControlState = Depends(state)
) -> Json:
    remove_alias(s.store, name, alias, by=caller.actor)
    return {}


@router.get("/registered-models/alias")
def alias_get(
    name: str, alias: str, caller: Principal = require("models:read"), s: ControlState = Depends(state)
) -> Json:
    return {"model_version": _described(s.store, get_version(s.store, f"{name}@{alias}"))}

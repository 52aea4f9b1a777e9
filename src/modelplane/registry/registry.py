"""The model registry: immutable versions, aliases that move, lineage to runs, data and parents."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy.exc
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelplane.errors import Conflict, IntegrityError, Invalid, NoSuchAlias, NotFound
from modelplane.refs import Ref, check_name
from modelplane.registry.artifacts import Source, StoredFile, attach, put, store_files
from modelplane.registry.deletion import delete_version as delete_version
from modelplane.registry.deletion import live_model_row, model_key
from modelplane.registry.integrity import manifest_of, sign_row
from modelplane.registry.retention import apply_retention, retention_of
from modelplane.registry.views import AliasMove, ModelInfo, ModelVersionInfo, version_view
from modelplane.security import audit
from modelplane.store import Store
from modelplane.store.db import serialise
from modelplane.store.orm import Alias, AliasEvent, ModelVersion, RegisteredModel, utcnow


@dataclass(frozen=True)
class NewVersion:
    """Everything a version is made of; the files are copied into the artifact store."""

    model_name: str
    task: str
    framework: str
    kind: str
    spec: dict[str, Any]
    weights_path: Path
    params: dict[str, Any]
    metrics: dict[str, Any]
    classes: list[str] | None = None
    onnx_path: Path | None = None
    onnx_note: str | None = None
    run_id: str | None = None
    dataset_version_id: int | None = None
    parent_version_id: int | None = None
    code_version: str | None = None
    files: Mapping[str, Source] = field(default_factory=dict)  # more files by format (a "preprocess" JSON)
    # weights_path/onnx_path are scratch files under the store's tmp dir made for this version alone and
    # left untouched after: linked into the store instead of copied (a 100 MB graph is not written twice)
    scratch: bool = False


def _model_row(session: Session, name: str) -> RegisteredModel:
    return live_model_row(session, name)


def _live(model: RegisteredModel) -> list[ModelVersion]:
    return [v for v in model.versions if v.deleted_at is None]


def find_version_row(session: Session, ref: Ref) -> ModelVersion:
    model = _model_row(session, ref.name)
    live = _live(model)
    if ref.selector is None:
        if not live:
            raise NotFound(f"model '{ref.name}' has no versions")
        return live[-1]
    if ref.version is not None:
        for row in live:
            if row.version == ref.version:
                return row
        known = ", ".join(str(v.version) for v in live) or "none"
        raise NotFound(f"model '{ref.name}' has no version {ref.version}; its versions are {known}")
    for alias in model.aliases:
        if alias.name == ref.selector:
            return alias.target
    known = ", ".join(a.name for a in model.aliases) or "none"
    raise NoSuchAlias(
        f"model '{ref.name}' has no alias '{ref.selector}'; its aliases are {known} "
        f"(set one with `modelplane models alias {ref.name}@VERSION {ref.selector}`)"
    )


def register(store: Store, new: NewVersion, *, by: str = "") -> ModelVersionInfo:
    """Copy the files into the artifact store, then add the version row, signed, in one transaction."""
    check_name(new.model_name, "model")
    files = store_files(store, new.framework, new.weights_path, new.onnx_path, new.files, scratch=new.scratch)
    with store.db.session() as session:
        serialise(session, model_key(new.model_name))
        model = session.scalar(select(RegisteredModel).where(RegisteredModel.name == new.model_name))
        if model is None:
            model = RegisteredModel(name=new.model_name, task=new.task)
            session.add(model)
            session.flush()
        elif model.deleted_at is not None:  # re-created: numbers go on after the deleted versions
            model.deleted_at, model.task, model.created_at = None, new.task, utcnow()
        elif model.task != new.task:
            raise Conflict(
                f"model '{new.model_name}' is a {model.task} model; a {new.task} version cannot join "
                "it (choose another --name)"
            )
        number = (
            session.scalar(select(func.max(ModelVersion.version)).where(ModelVersion.model_id == model.id))
            or 0
        ) + 1
        row = ModelVersion(
            model=model,
            version=number,
            framework=new.framework,
            kind=new.kind,
            spec=new.spec,
            params=new.params,
            metrics=new.metrics,
            classes=new.classes,
            run_id=new.run_id,
            dataset_version_id=new.dataset_version_id,
            parent_version_id=new.parent_version_id,
            code_version=new.code_version,
            onnx_note=new.onnx_note,
            created_by=by,
        )
        add_signed(session, store, row, files)
        audit.append(
            session, by, "model.version.registered", f"{model.name}@{number}", {"run_id": new.run_id}
        )
        apply_retention(session, model, by=by)
        return version_view(session, row)


def add_signed(session: Session, store: Store, row: ModelVersion, files: Mapping[str, StoredFile]) -> None:
    """Add a new version's row with its stored files attached, signed with the store's key, in the caller's
    transaction: a version is never visible unsigned or without its files."""
    session.add(row)
    session.flush()
    for fmt, stored in files.items():
        attach(session, row, fmt, stored)
    sign_row(session, store, row)


def add_artifact(store: Store, info: ModelVersionInfo, fmt: str, path: Path) -> ModelVersionInfo:
    """Keep `path` as `info`'s `fmt` file (one made from its weights) and sign the version's manifest
    again, with the file in it (only where the signature still matches its rows); where another process
    added one first, theirs is kept: both come from the same weights."""
    stored = put(store, path)
    try:
        with store.db.session() as session:
            row = find_version_row(session, Ref.parse(info.ref, "model"))
            if all(a.format != fmt for a in row.artifacts):
                current = version_view(session, row)
                if current.signature != info.signature or manifest_of(current) != manifest_of(info):
                    raise IntegrityError(f"{info.ref} changed while its {fmt} file was made; load it again")
                attach(session, row, fmt, stored)
                sign_row(session, store, row)
    except sqlalchemy.exc.IntegrityError:
        pass  # the concurrent writer's row stands; read it back below
    found = get_version(store, info.ref)
    if fmt not in found.artifacts:
        raise Conflict(f"storing the {fmt} file of {info.ref} collided with another write; try again")
    return found


def get_version(store: Store, ref: str) -> ModelVersionInfo:
    """`name` (latest), `name@3` or `name@alias`."""
    with store.db.session() as session:
        return version_view(session, find_version_row(session, Ref.parse(ref, "model")))


def version_id(store: Store, ref: str) -> int:
    with store.db.session() as session:
        return find_version_row(session, Ref.parse(ref, "model")).id


def _model_info(session: Session, model: RegisteredModel, *, with_history: bool) -> ModelInfo:
    history: list[AliasMove] = []
    if with_history:
        events = session.scalars(
            select(AliasEvent).where(AliasEvent.model_id == model.id).order_by(AliasEvent.id)
        )
        history = [AliasMove(e.alias, e.from_version, e.to_version, e.at, e.by) for e in events]
    return ModelInfo(
        name=model.name,
        task=model.task,
        created_at=model.created_at,
        aliases={a.name: a.target.version for a in model.aliases},
        versions=[version_view(session, v) for v in _live(model)],
        alias_history=history,
        retention=policy.to_dict() if (policy := retention_of(model)) else None,
    )


def list_models(store: Store) -> list[ModelInfo]:
    with store.db.session() as session:
        models = session.scalars(
            select(RegisteredModel).where(RegisteredModel.deleted_at.is_(None)).order_by(RegisteredModel.name)
        )
        return [_model_info(session, m, with_history=False) for m in models]


def get_model(store: Store, name: str) -> ModelInfo:
    with store.db.session() as session:
        return _model_info(session, _model_row(session, check_name(name, "model")), with_history=True)


def set_alias(store: Store, ref: str, alias: str, *, by: str = "") -> ModelVersionInfo:
    """Point `alias` at the version `ref` names; moving it back is the rollback."""
    parsed = Ref.parse(ref, "model")
    if parsed.selector is None:
        raise Invalid(f"say which version the alias points at: {parsed.name}@VERSION (e.g. {parsed.name}@3)")
    check_name(alias, "alias")
    if alias.isdigit():
        raise Invalid(
            f"alias {alias!r} is a number, which would read as a version; use a name like 'production'"
        )
    with store.db.session() as session:
        serialise(session, model_key(parsed.name))
        target = find_version_row(session, parsed)
        model = target.model
        current = next((a for a in model.aliases if a.name == alias), None)
        previous = current.target.version if current else None
        if current is None:
            session.add(Alias(model=model, name=alias, version_id=target.id, updated_by=by))
        else:
            current.version_id = target.id
            current.updated_at = utcnow()
            current.updated_by = by
        session.add(
            AliasEvent(
                model_id=model.id, alias=alias, from_version=previous, to_version=target.version, by=by
            )
        )
        session.flush()
        audit.append(
            session,
            by,
            "model.alias.moved",
            f"{model.name}@{alias}",
            {"from": previous, "to": target.version},
        )
        session.expire(model, ["aliases"])
        return version_view(session, target)


def remove_alias(store: Store, model_name: str, alias: str, *, by: str = "") -> None:
    with store.db.session() as session:
        serialise(session, model_key(model_name))
        model = _model_row(session, model_name)
        current = next((a for a in model.aliases if a.name == alias), None)
        if current is None:
            raise NoSuchAlias(f"model '{model_name}' has no alias '{alias}'")
        session.add(
            AliasEvent(
                model_id=model.id, alias=alias, from_version=current.target.version, to_version=None, by=by
            )
        )
        session.delete(current)
        audit.append(
            session, by, "model.alias.removed", f"{model_name}@{alias}", {"was": current.target.version}
        )

"""A version written back under its own number, from files made elsewhere (a deployable package).

`register` numbers a new version after the model's last one; a package's versions must keep the numbers
they had where they were trained, because V2 metadata and canary/ensemble refs name them. The files are
stored and attached by format exactly as the source store had them (same sha256s), and the version is
signed with this store's key, so every load goes through the usual integrity checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from modelplane.errors import Conflict
from modelplane.refs import check_name
from modelplane.registry.artifacts import put
from modelplane.registry.deletion import model_key
from modelplane.registry.registry import add_signed
from modelplane.registry.views import ModelVersionInfo, version_view
from modelplane.security import audit
from modelplane.store import Store
from modelplane.store.db import serialise
from modelplane.store.orm import ModelVersion, RegisteredModel


@dataclass(frozen=True)
class RestoredVersion:
    """A version's record as a package carries it; `files` maps each format to its plaintext file."""

    model: str
    version: int
    task: str
    framework: str
    kind: str
    spec: dict[str, Any]
    params: dict[str, Any]
    metrics: dict[str, Any]
    classes: list[str] | None
    onnx_note: str | None
    files: Mapping[str, Path]


def restore_version(store: Store, new: RestoredVersion, *, by: str = "") -> ModelVersionInfo:
    """Store `new`'s files and add its row with its own number, signed; `Conflict` if that number is taken."""
    check_name(new.model, "model")
    stored = {fmt: put(store, path) for fmt, path in new.files.items()}
    with store.db.session() as session:
        serialise(session, model_key(new.model))
        model = session.scalar(select(RegisteredModel).where(RegisteredModel.name == new.model))
        if model is None:
            model = RegisteredModel(name=new.model, task=new.task)
            session.add(model)
            session.flush()
        if any(row.version == new.version for row in model.versions):
            raise Conflict(f"{new.model}@{new.version} already exists in this store; use an empty home")
        row = ModelVersion(
            model=model,
            version=new.version,
            framework=new.framework,
            kind=new.kind,
            spec=new.spec,
            params=new.params,
            metrics=new.metrics,
            classes=new.classes,
            onnx_note=new.onnx_note,
            created_by=by,
        )
        add_signed(session, store, row, stored)
        audit.append(session, by, "model.version.restored", f"{new.model}@{new.version}", {})
        session.expire(model, ["versions"])
        return version_view(session, row)

"""/api/v1/models/import: a model trained elsewhere, uploaded in chunks (/api/v1/uploads), as a version."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from modelplane.api.deps import ControlState, require, state
from modelplane.data.uploads import UPLOAD_PREFIX
from modelplane.errors import Forbidden, Invalid
from modelplane.registry.imports import ImportOptions, import_model
from modelplane.security.principal import Principal
from modelplane.security.roles import Role

router = APIRouter(tags=["models"])


class ModelImport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    source: str = Field(
        description="upload:ID of a completed upload: the model file, or a folder sent zipped"
    )
    task: str | None = Field(None, description="classification or regression; inferred where the file says")
    classes: list[str] | None = Field(None, description="the classifier's labels, in output order")
    reference: str | None = Field(None, description="upload:ID of a parquet file of reference rows")
    data: str | None = Field(None, description="NAME@VERSION of a dataset to evaluate on")
    evaluate: bool = False
    trust: list[str] = Field(default_factory=list, description="skops types to trust beyond scikit-learn's")


def _uploaded(s: ControlState, source: str, what: str, caller: Principal) -> str:
    if not source.startswith(UPLOAD_PREFIX):
        raise Invalid(
            f"{what} {source!r}: over the API it is upload:ID "
            "(the modelplane client uploads local files for you)"
        )
    upload = s.uploads.get(source.removeprefix(UPLOAD_PREFIX))
    if upload.owner != caller.actor and caller.role is not Role.ADMIN:
        raise Forbidden("this upload belongs to another key; start your own upload")
    return str(s.uploads.source_path(source))


@router.post("/models/import", status_code=201)
def models_import(
    body: ModelImport, caller: Principal = require("models:write"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    """Register a new version of `name` from an uploaded ONNX, skops or TorchScript file, a safetensors +
    spec folder, or an MLflow model folder; the file is checked (it must run) before anything is stored."""
    from pathlib import Path

    source = _uploaded(s, body.source, "source", caller)
    reference = _uploaded(s, body.reference, "reference", caller) if body.reference else None
    options = ImportOptions(
        task=body.task,
        classes=tuple(body.classes) if body.classes is not None else None,
        reference=Path(reference) if reference else None,
        data=body.data,
        evaluate=body.evaluate,
        trust=tuple(body.trust),
    )
    return import_model(s.store, body.name, Path(source), options, by=caller.actor).to_dict()

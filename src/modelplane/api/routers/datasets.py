"""/api/v1/datasets and /api/v1/uploads: dataset versions, and the chunked uploads that feed them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from modelplane.api.deps import ControlState, Page, page, require, state
from modelplane.data.catalog import get_version, list_datasets, list_versions
from modelplane.data.deletion import delete_dataset
from modelplane.data.ingest import IngestOptions, add_dataset
from modelplane.data.roles import RoleOverrides
from modelplane.data.sources import BUILTIN_PREFIX, FEEDBACK_PREFIX
from modelplane.data.uploads import MAX_CHUNK, UPLOAD_PREFIX
from modelplane.errors import Forbidden, Invalid, PayloadTooLarge
from modelplane.security.principal import Principal
from modelplane.security.roles import Role, authorize

router = APIRouter(tags=["datasets"])


class DatasetAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    source: str = Field(
        description="builtin:NAME, upload:ID of a completed upload, or feedback:DEPLOYMENT (its labelled "
        "predictions; needs deployments:read too)"
    )
    target: str | None = None
    task: str | None = None
    append: bool = False
    drop_na: bool = False
    drop_columns: list[str] = Field(default_factory=list, description="columns left out (--drop / --ignore)")
    categorical: list[str] = Field(default_factory=list, description="columns read as categories")
    numeric: list[str] = Field(default_factory=list, description="columns read as numbers")
    boolean: list[str] = Field(default_factory=list, description="columns read as booleans")
    datetime: list[str] = Field(default_factory=list, description="columns read as dates and times")
    ids: list[str] = Field(default_factory=list, description="id columns (kept, never features)")
    chunk_rows: int = 65_536
    image_size: tuple[int, int] | None = None
    image_mode: str | None = None
    since: str | None = Field(None, max_length=20, description="feedback: source only: the last 7d, 1h, ...")


class UploadStart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filename: str
    size: int
    sha256: str
    chunk_size: int = 8 << 20


@router.get("/datasets")
def datasets_list(
    pages: Page = Depends(page), caller: Principal = require("data:read"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    return pages.of(list_datasets(s.store))


@router.get("/datasets/{ref}")
def datasets_get(
    ref: str, caller: Principal = require("data:read"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    return get_version(s.store, ref).to_dict()


@router.get("/datasets/{name}/versions")
def datasets_versions(
    name: str,
    pages: Page = Depends(page),
    caller: Principal = require("data:read"),
    s: ControlState = Depends(state),
) -> dict[str, Any]:
    return pages.of(list_versions(s.store, name))


@router.post("/datasets", status_code=201)
def datasets_add(
    body: DatasetAdd, caller: Principal = require("data:write"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    """Ingest a built-in dataset or a completed upload; server paths are not reachable over the API."""
    source = body.source
    if source.startswith(FEEDBACK_PREFIX):
        return _from_feedback(body, caller, s)
    if body.since is not None:
        raise Invalid("since applies to a feedback:DEPLOYMENT source only; remove it")
    if source.startswith(UPLOAD_PREFIX):
        _own(s.uploads.get(source.removeprefix(UPLOAD_PREFIX)).owner, caller)
        source = str(s.uploads.source_path(source))
    elif not source.startswith(BUILTIN_PREFIX):
        raise Invalid(
            f"source {body.source!r}: over the API a source is builtin:NAME or upload:ID "
            "(the modelplane client uploads local files for you)"
        )
    target = body.target
    if target is not None and target.startswith(UPLOAD_PREFIX):  # an IDX labels file, uploaded too
        _own(s.uploads.get(target.removeprefix(UPLOAD_PREFIX)).owner, caller)
        target = str(s.uploads.source_path(target))
    options = _options(body, target)
    result = add_dataset(s.store, body.name, source, options, by=caller.actor)
    return {"version": result.version.to_dict(), "created": result.created, "notices": result.notices}


def _options(body: DatasetAdd, target: str | None) -> IngestOptions:
    return IngestOptions(
        target=target,
        task=body.task,
        append=body.append,
        drop_na=body.drop_na,
        drop_columns=tuple(body.drop_columns),
        chunk_rows=body.chunk_rows,
        image_size=body.image_size,
        image_mode=body.image_mode,
        roles=RoleOverrides(
            categorical=tuple(body.categorical),
            numeric=tuple(body.numeric),
            boolean=tuple(body.boolean),
            datetime=tuple(body.datetime),
            id=tuple(body.ids),
        ),
    )


def _from_feedback(body: DatasetAdd, caller: Principal, s: ControlState) -> dict[str, Any]:
    """A version from a deployment's labelled predictions: reading them is reading the deployment."""
    from modelplane.data.from_feedback import add_from_feedback
    from modelplane.monitoring.settings import parse_duration

    authorize(caller, "deployments:read")
    since = parse_duration(body.since, "since") if body.since is not None else None
    options = _options(body, body.target)
    deployment = body.source.removeprefix(FEEDBACK_PREFIX)
    result = add_from_feedback(s.store, body.name, deployment, since=since, options=options, by=caller.actor)
    return {"version": result.version.to_dict(), "created": result.created, "notices": result.notices}


def _own(owner: str, caller: Principal) -> None:
    if owner != caller.actor and caller.role is not Role.ADMIN:
        raise Forbidden("this upload belongs to another key; start your own upload")


@router.post("/uploads", status_code=201)
def uploads_start(
    body: UploadStart, caller: Principal = require("data:write"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    """Declare a file; declaring the same file again returns the open upload and what it still misses."""
    info = s.uploads.create(
        body.filename, body.size, body.sha256.lower(), body.chunk_size, owner=caller.actor
    )
    return info.to_dict()


@router.get("/uploads/{upload_id}")
def uploads_get(
    upload_id: str, caller: Principal = require("data:write"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    info = s.uploads.get(upload_id)
    _own(info.owner, caller)
    return info.to_dict()


@router.put("/uploads/{upload_id}/chunks/{index}")
async def uploads_chunk(
    upload_id: str,
    index: int,
    request: Request,
    caller: Principal = require("data:write"),
    s: ControlState = Depends(state),
) -> dict[str, Any]:
    """The raw chunk bytes as the body, their sha256 in the `x-chunk-sha256` header."""
    _own(s.uploads.get(upload_id).owner, caller)
    digest = request.headers.get("x-chunk-sha256")
    if not digest:
        raise Invalid("send the chunk's sha256 (hex) in the x-chunk-sha256 header")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_CHUNK:
        raise PayloadTooLarge(f"a chunk is at most {MAX_CHUNK} bytes")
    data = bytearray()
    async for block in request.stream():
        data += block
        if len(data) > MAX_CHUNK:
            raise PayloadTooLarge(f"a chunk is at most {MAX_CHUNK} bytes")
    info = await run_in_threadpool(s.uploads.put_chunk, upload_id, index, bytes(data), digest)
    return info.to_dict()


@router.post("/uploads/{upload_id}/complete")
def uploads_complete(
    upload_id: str, caller: Principal = require("data:write"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    info = s.uploads.get(upload_id)
    _own(info.owner, caller)
    s.uploads.complete(upload_id)
    return {**s.uploads.get(upload_id).to_dict(), "source": f"{UPLOAD_PREFIX}{upload_id}"}


@router.delete("/uploads/{upload_id}", status_code=204)
def uploads_discard(
    upload_id: str, caller: Principal = require("data:write"), s: ControlState = Depends(state)
) -> None:
    _own(s.uploads.get(upload_id).owner, caller)
    s.uploads.discard(upload_id)


@router.delete("/datasets/{ref}")
def datasets_delete(
    ref: str, caller: Principal = require("data:write"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    """Delete NAME@VERSION, or NAME with every version; 409 naming what still reads it."""
    return {"deleted": delete_dataset(s.store, ref, by=caller.actor)}

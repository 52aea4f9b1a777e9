"""/api/v1/jobs and /api/v1/batch: background jobs (list, show, logs, cancel, a batch's output) and batch
prediction over uploaded files."""

from __future__ import annotations

import shutil
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from modelplane.api.deps import MAX_OFFSET, ControlState, Page, page, require, state
from modelplane.data.uploads import UPLOAD_PREFIX
from modelplane.errors import Forbidden, Invalid, NotFound
from modelplane.jobs.batch.download import output_file
from modelplane.jobs.batch.kind import parse_batch_request, submit_batch
from modelplane.jobs.kinds import job_dir
from modelplane.jobs.queue import cancel_job, count_jobs, get_job, list_jobs, new_job_id, read_log
from modelplane.security.principal import Principal
from modelplane.security.roles import Role

router = APIRouter(tags=["jobs"])
_MEDIA = {"parquet": "application/vnd.apache.parquet", "csv": "text/csv"}


class BatchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    deployment: str
    input: str = Field(description="upload:ID of a completed upload (the client uploads local files)")
    output_format: Literal["parquet", "csv"] = "parquet"
    id_column: str | None = None
    chunk_rows: int = 50_000
    batch_size: int = 4096


@router.get("/jobs")
def jobs_list(
    state_filter: str | None = Query(None, alias="state", description="queued, running, succeeded, ..."),
    kind: str | None = Query(None, description="Only jobs of this kind (train, batch)"),
    pages: Page = Depends(page),
    caller: Principal = require("jobs:read"),
    s: ControlState = Depends(state),
) -> dict[str, Any]:
    """Newest first."""
    items = list_jobs(s.store, limit=pages.limit, offset=pages.offset, state=state_filter, kind=kind)
    return {
        "items": [job.to_dict() for job in items],
        "total": count_jobs(s.store, state=state_filter, kind=kind),
        "offset": pages.offset,
        "limit": pages.limit,
    }


@router.get("/jobs/{job_id}")
def jobs_get(
    job_id: str, caller: Principal = require("jobs:read"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    return get_job(s.store, job_id).to_dict()


@router.get("/jobs/{job_id}/logs")
def jobs_logs(
    job_id: str,
    after: int = Query(0, ge=0, le=MAX_OFFSET, description="Return the lines numbered after this one"),
    limit: int = Query(1000, ge=1, le=10_000),
    caller: Principal = require("jobs:read"),
    s: ControlState = Depends(state),
) -> dict[str, Any]:
    """The job (so a follower knows when to stop) and its new log lines."""
    job, lines = read_log(s.store, job_id, after=after, limit=limit)
    return {"job": job.to_dict(), "lines": [line.to_dict() for line in lines]}


@router.post("/jobs/{job_id}/cancel")
def jobs_cancel(
    job_id: str, caller: Principal = require("jobs:cancel"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    return cancel_job(s.store, job_id, by=caller.actor).to_dict()


@router.get("/jobs/{job_id}/output", response_model=None)
def jobs_output(
    job_id: str, caller: Principal = require("jobs:read"), s: ControlState = Depends(state)
) -> FileResponse:
    """A batch job's predictions, for jobs submitted over the API (others wrote to a path of their own)."""
    job = get_job(s.store, job_id)
    path = output_file(job)
    if path.resolve().parent != job_dir(s.store, job.id).resolve():
        raise NotFound(
            f"job {job.id} wrote its predictions to a path of its own on the server ({path.name}); only the "
            "output of a batch submitted over the API can be downloaded"
        )
    fmt = str(job.params["output_format"])
    return FileResponse(path, media_type=_MEDIA[fmt], filename=f"{job.id}-predictions.{fmt}")


@router.post("/batch", status_code=202)
def batch_submit(
    body: BatchBody, caller: Principal = require("batch"), s: ControlState = Depends(state)
) -> dict[str, Any]:
    """Predict an uploaded file through a deployment; everything is checked before the job is queued.
    Follow it at /jobs/{id}, then fetch /jobs/{id}/output."""
    if not body.input.startswith(UPLOAD_PREFIX):
        raise Invalid(
            f"input {body.input!r}: over the API the input is upload:ID (the modelplane client uploads local "
            "files for you)"
        )
    upload = s.uploads.get(body.input.removeprefix(UPLOAD_PREFIX))
    if upload.owner != caller.actor and caller.role is not Role.ADMIN:
        raise Forbidden("this upload belongs to another key; upload the file yourself")
    job_id = new_job_id()
    folder = job_dir(s.store, job_id)
    folder.mkdir(parents=True)
    request = parse_batch_request(
        {
            "deployment": body.deployment,
            "input": str(s.uploads.source_path(body.input)),
            "output": str(folder / f"predictions.{body.output_format}"),
            "id_column": body.id_column,
            "chunk_rows": body.chunk_rows,
            "batch_size": body.batch_size,
        }
    )
    try:
        return submit_batch(s.store, request, by=caller.actor, job_id=job_id).to_dict()
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise

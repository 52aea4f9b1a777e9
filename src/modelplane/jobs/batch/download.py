"""Getting a finished batch job's output file: its path on this machine, or a copy at another path."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from modelplane.errors import Conflict, Invalid, NotFound
from modelplane.jobs.batch.paths import check_output, temp_output
from modelplane.jobs.queue import get_job
from modelplane.jobs.views import SUCCEEDED, JobInfo
from modelplane.store import Store


def output_file(job: JobInfo) -> Path:
    """The output of a batch job that succeeded."""
    if job.kind != "batch":
        raise Invalid(f"job {job.id} is a {job.kind} job; only batch jobs write an output file")
    if job.state != SUCCEEDED:
        raise Conflict(f"job {job.id} is {job.state}; its output can be fetched once it succeeded")
    path = Path(job.params["output"])
    if not path.is_file():
        raise NotFound(f"the output of job {job.id} ({path}) is no longer there")
    return path


def copy_output(store: Store, job_id: str, path: Path, *, overwrite: bool) -> Path:
    """Copy it through a temp file and a rename, so `path` is never half-written."""
    job = get_job(store, job_id)
    source = output_file(job)
    path = path.expanduser().resolve()
    if path == source.resolve():
        return path
    check_output(path, overwrite=overwrite)
    temp = temp_output(path, job.id)
    try:
        shutil.copyfile(source, temp)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path

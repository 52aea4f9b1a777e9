"""Waiting for a job the same way in-process and over HTTP: poll it, report each poll, stop at its end."""

from __future__ import annotations

import time
from collections.abc import Callable

from modelplane.errors import ModelplaneError
from modelplane.jobs.views import SUCCEEDED, JobInfo

POLL_S = 0.25


def wait_for(
    get: Callable[[], JobInfo], *, on_update: Callable[[JobInfo], None] | None = None, poll_s: float = POLL_S
) -> JobInfo:
    """Poll `get` until the job ends; `on_update` sees every poll (a progress bar redraws from it)."""
    while True:
        job = get()
        if on_update is not None:
            on_update(job)
        if job.finished:
            return job
        time.sleep(poll_s)


def succeeded(job: JobInfo) -> JobInfo:
    """The job, or the error a caller waiting for it should see."""
    if job.state != SUCCEEDED:
        detail = job.error or job.state
        raise ModelplaneError(
            f"{job.kind} job {job.id} {job.state}: {detail} (see `modelplane jobs logs {job.id}`)"
        )
    return job

"""Console pages: background jobs (list, one job with its log) kept live by polling, and cancelling one.

Reads and the cancel go through the jobs queue functions the API's /api/v1/jobs routes call, under the
same permissions ('jobs:read', 'jobs:cancel'), so a cancel here is audited as the API's is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from modelplane.api.deps import MAX_OFFSET
from modelplane.console.web import ConsoleState, Viewer, back, checked_form, console, current_viewer, render
from modelplane.jobs.kinds import KINDS
from modelplane.jobs.queue import cancel_job, count_jobs, get_job, list_jobs, read_log, tail_log
from modelplane.jobs.views import FINISHED, STATES, JobInfo

router = APIRouter()
PAGE_SIZE = 50
TAIL_LINES = 200
MAX_IDS = 100


def live_view(job: JobInfo) -> dict[str, Any]:
    """What a polling page needs of a job: its state and progress, already worded."""
    progress = job.progress
    return {
        "id": job.id,
        "state": job.state,
        "finished": job.finished,
        "cancel_requested": job.cancel_requested,
        "done": progress.done,
        "total": progress.total,
        "unit": progress.unit,
        "fraction": progress.fraction,
        "progress_text": progress_text(job),
        "rate_text": rate_text(job),
        "eta_text": eta_text(job),
        "error": job.error,
    }


def progress_text(job: JobInfo) -> str:
    done, total, unit = job.progress.done, job.progress.total, job.progress.unit
    return f"{done}/{total} {unit}".rstrip() if total is not None else f"{done} {unit}".rstrip()


def rate_text(job: JobInfo) -> str:
    rate = job.progress.rate
    if not rate or job.finished:
        return ""
    per = job.progress.unit or "units"
    return f"{rate:.2f} {per}/s" if rate < 10 else f"{rate:.0f} {per}/s"


def eta_text(job: JobInfo) -> str:
    eta = job.progress.eta_s
    if eta is None or job.finished:
        return ""
    minutes, seconds = divmod(round(eta), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(
    request: Request,
    state: str | None = Query(None),
    kind: str | None = Query(None),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    viewer: Viewer = Depends(current_viewer),
    s: ConsoleState = Depends(console),
) -> HTMLResponse:
    """Newest first, PAGE_SIZE at a time; the page polls /ui/live/jobs for the rows still moving."""
    viewer.require("jobs:read")
    state, kind = state or None, kind or None
    jobs = list_jobs(s.store, limit=PAGE_SIZE, offset=offset, state=state, kind=kind)
    total = count_jobs(s.store, state=state, kind=kind)
    return render(
        request,
        viewer,
        "jobs/list.html",
        jobs=[(job, live_view(job)) for job in jobs],
        total=total,
        offset=offset,
        page_size=PAGE_SIZE,
        state=state or "",
        kind=kind or "",
        states=STATES,
        kinds=sorted(KINDS),
    )


@router.get("/live/jobs")
def jobs_live(
    ids: str = Query("", description="Comma-separated ids of the jobs a page shows as still moving"),
    viewer: Viewer = Depends(current_viewer),
    s: ConsoleState = Depends(console),
) -> dict[str, Any]:
    """The current state and progress of the named jobs (those that were queued or running)."""
    viewer.require("jobs:read")
    wanted = [i for i in ids.split(",") if i][:MAX_IDS]
    found = [get_job(s.store, job_id) for job_id in wanted]
    return {"jobs": [live_view(job) for job in found]}


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(
    request: Request,
    job_id: str,
    viewer: Viewer = Depends(current_viewer),
    s: ConsoleState = Depends(console),
) -> HTMLResponse:
    viewer.require("jobs:read")
    job, lines = tail_log(s.store, job_id, lines=TAIL_LINES)
    return render(
        request,
        viewer,
        "jobs/detail.html",
        job=job,
        live=live_view(job),
        lines=lines,
        last_seq=lines[-1].seq if lines else 0,
        finished_states=sorted(FINISHED),
    )


@router.get("/live/jobs/{job_id}/logs")
def job_live(
    job_id: str,
    after: int = Query(0, ge=0, le=MAX_OFFSET),
    viewer: Viewer = Depends(current_viewer),
    s: ConsoleState = Depends(console),
) -> dict[str, Any]:
    """The job's state and progress and its log lines numbered after `after`."""
    viewer.require("jobs:read")
    job, lines = read_log(s.store, job_id, after=after, limit=1000)
    return {"job": live_view(job), "lines": [{"seq": line.seq, "line": line.line} for line in lines]}


@router.post("/jobs/{job_id}/cancel")
def job_cancel(
    job_id: str,
    viewer: Viewer = Depends(current_viewer),
    form: Mapping[str, Any] = Depends(checked_form),
    s: ConsoleState = Depends(console),
) -> RedirectResponse:
    viewer.require("jobs:cancel")
    job = cancel_job(s.store, job_id, by=viewer.principal.actor)
    said = f"Job {job.id} cancelled" if job.finished else f"Job {job.id}: cancel requested; it stops shortly"
    return back(f"/ui/jobs/{job.id}", flash=said)

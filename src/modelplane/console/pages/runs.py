"""Console pages: the runs table, one run (its inputs, metrics, lineage and curves) and runs side by side.

Reads need 'models:read', as the API's runs routes do. The table reads summary rows a page at a time
(training/run_summaries.py); one run's page reads its full view, as `GET /api/v1/runs/{id}` answers.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from modelplane.api.deps import MAX_OFFSET
from modelplane.console.pages.runs_data import curves, duration, key_metrics, overlays, param_diff, params_of
from modelplane.console.web import ConsoleState, Viewer, console, current_viewer, render
from modelplane.errors import Invalid
from modelplane.training.run_catalog import get_run
from modelplane.training.run_summaries import SORTS, Order, RunFilter, run_page

router = APIRouter()
PAGE = 100
STATUSES = ("queued", "running", "succeeded", "failed", "interrupted", "cancelled")
COMPARE_MIN, COMPARE_MAX = 2, 4
LIVE = ("queued", "running")  # a run's page polls its curves while it is in one of these


@router.get("/runs", response_class=HTMLResponse)
def runs_table(
    request: Request,
    status: str = "",
    dataset: str = "",
    model: str = "",
    text: str = "",
    sort: str = "started",
    order: Order = "desc",
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    viewer: Viewer = Depends(current_viewer),
    state: ConsoleState = Depends(console),
) -> HTMLResponse:
    viewer.require("models:read")
    where = RunFilter(status or None, dataset or None, model or None, text or None)
    found = run_page(state.store, where, sort=sort, order=order, offset=offset, limit=PAGE)
    rows = [
        {
            "run": run,
            "metrics": key_metrics(run.metrics),
            "duration": duration(run.duration_s),
        }
        for run in found.runs
    ]
    query = {"status": status, "dataset": dataset, "model": model, "text": text, "sort": sort, "order": order}
    return render(
        request,
        viewer,
        "runs/index.html",
        rows=rows,
        total=found.total,
        offset=offset,
        page=PAGE,
        query=query,
        statuses=STATUSES,
        sorts=SORTS,
        compare=(COMPARE_MIN, COMPARE_MAX),
    )


@router.get("/runs/compare", response_class=HTMLResponse)
def runs_compare(
    request: Request,
    ids: list[str] = Query(default=[]),
    viewer: Viewer = Depends(current_viewer),
    state: ConsoleState = Depends(console),
) -> HTMLResponse:
    """`?ids=a,b,c` (or `?ids=a&ids=b`, as the table's form sends them)."""
    viewer.require("models:read")
    wanted = list(dict.fromkeys(part.strip() for value in ids for part in value.split(",") if part.strip()))
    if not COMPARE_MIN <= len(wanted) <= COMPARE_MAX:
        raise Invalid(
            f"compare {COMPARE_MIN} to {COMPARE_MAX} runs at once: ids= names {len(wanted)}; "
            "tick between 2 and 4 runs in the runs table"
        )
    runs = [get_run(state.store, run_id) for run_id in wanted]
    return render(
        request,
        viewer,
        "runs/compare.html",
        runs=runs,
        charts=overlays(runs),
        diff=param_diff(runs),
        rows=[(run, key_metrics(run.metrics), duration(run.duration_s)) for run in runs],
    )


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_view(
    request: Request,
    run_id: str,
    viewer: Viewer = Depends(current_viewer),
    state: ConsoleState = Depends(console),
) -> HTMLResponse:
    viewer.require("models:read")
    run = get_run(state.store, run_id)
    return render(
        request,
        viewer,
        "runs/run.html",
        run=run,
        params=params_of(run),
        metrics=_final_metrics(run.metrics),
        key=key_metrics(run.metrics),
        chart=curves(run),
        duration=duration(run.duration_s),
        live=run.status in LIVE,
    )


@router.get("/runs/{run_id}/curves")
def run_curves(
    run_id: str, viewer: Viewer = Depends(current_viewer), state: ConsoleState = Depends(console)
) -> JSONResponse:
    """A run's status and curves, which its page polls while it trains."""
    viewer.require("models:read")
    run = get_run(state.store, run_id)
    return JSONResponse({"status": run.status, **curves(run)})


def _final_metrics(metrics: dict[str, Any]) -> list[tuple[str, dict[str, float]]]:
    """Numeric final metrics grouped by split (`test`, `validation`; a tracked run's are one group)."""
    groups: list[tuple[str, dict[str, float]]] = []
    flat: dict[str, float] = {}
    for name, value in metrics.items():
        if isinstance(value, dict):
            numbers = {k: float(v) for k, v in value.items() if _number(v)}
            if numbers:
                groups.append((name, numbers))
        elif _number(value):
            flat[name] = float(value)
    return [("run", flat), *groups] if flat else groups


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)

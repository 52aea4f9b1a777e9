"""Console pages: tuning studies, and one study's trials, optimisation history and parameter importances.

Reads need 'models:read', as the API's studies routes do; studies come from the store's Optuna tables through
tuning/catalog.py, the functions `GET /api/v1/studies` answers with.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from modelplane.console.pages.runs_data import duration
from modelplane.console.web import ConsoleState, Viewer, console, current_viewer, render
from modelplane.tuning.catalog import get_study, list_studies
from modelplane.tuning.views import StudyInfo

router = APIRouter()


@router.get("/studies", response_class=HTMLResponse)
def studies_table(
    request: Request, viewer: Viewer = Depends(current_viewer), state: ConsoleState = Depends(console)
) -> HTMLResponse:
    viewer.require("models:read")
    studies = sorted(list_studies(state.store), key=lambda s: s.created_at or "", reverse=True)
    return render(request, viewer, "studies/index.html", studies=studies, state_of=study_state)


@router.get("/studies/{name}", response_class=HTMLResponse)
def study_view(
    request: Request,
    name: str,
    viewer: Viewer = Depends(current_viewer),
    state: ConsoleState = Depends(console),
) -> HTMLResponse:
    viewer.require("models:read")
    study = get_study(state.store, name)
    importances = sorted((study.importances or {}).items(), key=lambda item: -item[1])
    return render(
        request,
        viewer,
        "studies/study.html",
        study=study,
        state=study_state(study),
        history=history(study),
        importances=importances,
        durations={t.number: duration(t.duration_s) for t in study.trials},
    )


def study_state(study: StudyInfo) -> str:
    """'running' while a trial runs or waits, 'finished' once the budget is spent, else 'stopped' (a timeout
    or an interrupted session: `modelplane tune --resume NAME` continues it)."""
    if study.states.get("running") or study.states.get("waiting"):
        return "running"
    if study.trials_budget is None or study.trials_done >= study.trials_budget:
        return "finished"
    return "stopped"


def history(study: StudyInfo) -> dict[str, Any]:
    """Each completed trial's value and the best so far, by trial number, for a uPlot chart."""
    better = max if study.direction == "maximize" else min
    x: list[int] = []
    values: list[float | None] = []
    best: list[float | None] = []
    so_far: float | None = None
    for trial in sorted(study.trials, key=lambda t: t.number):
        if trial.value is not None:
            so_far = trial.value if so_far is None else better(so_far, trial.value)
        x.append(trial.number)
        values.append(trial.value)
        best.append(so_far)
    return {
        "x": x,
        "series": [{"label": study.metric, "values": values}, {"label": "best so far", "values": best}],
    }

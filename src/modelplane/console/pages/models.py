"""Console pages: the model registry — models, one model's versions and aliases, one version — and the
promote / roll back action, which always passes a confirmation page and calls the registry's `set_alias`
exactly as the API's PUT /models/{name}/aliases/{alias} does (so the audit ledger records it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from modelplane.api.deps import MAX_OFFSET
from modelplane.console.pages.models_view import (
    VersionRow,
    history_of,
    lineage_of,
    rollback_target,
    serving,
    size_of,
    test_metrics,
)
from modelplane.console.web import ConsoleState, Viewer, back, checked_form, console, current_viewer, render
from modelplane.errors import Invalid, ModelplaneError
from modelplane.refs import check_name
from modelplane.registry.registry import get_model, get_version, set_alias
from modelplane.registry.summaries import model_summaries
from modelplane.registry.tables import signature_of
from modelplane.registry.views import ModelVersionInfo
from modelplane.serving.deployments import list_deployments

router = APIRouter()

PAGE = 100  # models per page of the list; versions a model page shows before "show more"
HISTORY = 20  # alias moves shown before "show all"
CHAIN = 10  # parent versions followed on a version's page


def _model_page(name: str) -> str:
    return f"/ui/models/{quote(name)}"


@router.get("/models", response_class=HTMLResponse)
def models_list(
    request: Request,
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    viewer: Viewer = Depends(current_viewer),
    state: ConsoleState = Depends(console),
) -> HTMLResponse:
    viewer.require("models:read")
    models, total = model_summaries(state.store, offset=offset, limit=PAGE)
    more = offset + PAGE if offset + PAGE < total else None
    return render(request, viewer, "models/list.html", models=models, total=total, offset=offset, more=more)


@router.get("/models/{name}", response_class=HTMLResponse)
def model_page(
    request: Request,
    name: str,
    history: str | None = None,
    versions: str | None = None,
    viewer: Viewer = Depends(current_viewer),
    state: ConsoleState = Depends(console),
) -> HTMLResponse:
    viewer.require("models:read")
    model = get_model(state.store, name)
    aliases = [
        {
            "name": alias,
            "version": version,
            "rollback": rollback_target(model, alias),
            "history": history_of(model, alias)[: None if history == "all" else HISTORY],
            "moves": len(history_of(model, alias)),
        }
        for alias, version in sorted(model.aliases.items())
    ]
    newest = model.versions[::-1][: None if versions == "all" else PAGE]
    rows = [VersionRow(v, test_metrics(v), size_of(v), lineage_of(v)) for v in newest]
    metric_names = sorted({k for row in rows for k in row.metrics})
    return render(
        request,
        viewer,
        "models/model.html",
        model=model,
        versions=rows,
        more_versions=len(model.versions) - len(rows),
        metric_names=metric_names,
        aliases=aliases,
        all_history=history == "all",
        history_limit=HISTORY,
        can_write=viewer.can("models:write"),
    )


@router.get("/models/{name}/versions/{version}", response_class=HTMLResponse)
def version_page(
    request: Request,
    name: str,
    version: int = Path(ge=1, le=MAX_OFFSET),
    viewer: Viewer = Depends(current_viewer),
    state: ConsoleState = Depends(console),
) -> HTMLResponse:
    viewer.require("models:read")
    info = get_version(state.store, f"{check_name(name, 'model')}@{version}")
    model = get_model(state.store, name)
    chain: list[ModelVersionInfo] = []
    parent = info.parent
    while parent and len(chain) < CHAIN:
        try:
            chain.append(get_version(state.store, parent))
        except ModelplaneError:  # a deleted parent: the chain ends at the last one still registered
            break
        parent = chain[-1].parent
    children = [v for v in model.versions if v.parent == info.ref]
    deployments = [d for d in list_deployments(state.store) if viewer.sees_deployment(d.name)]
    flat = _flat(info.metrics)
    return render(
        request,
        viewer,
        "models/version.html",
        info=info,
        lineage=lineage_of(info),
        chain=[(v, lineage_of(v)) for v in chain],
        children=children,
        metrics=[(k, v) for k, v in flat if ".per_class." not in k],
        per_class=[(k, v) for k, v in flat if ".per_class." in k],
        size=size_of(info),
        signature=signature_of(state.store, info),
        deployments=serving(deployments, model, info.version),
    )


@router.get("/models/{name}/promote")
def promote(
    request: Request,
    name: str,
    alias: str = "",
    version: str = "",
    viewer: Viewer = Depends(current_viewer),
) -> Response:
    """The promote form (alias typed in) goes on to that alias's confirmation page."""
    viewer.require("models:write")
    try:
        check_name(alias.strip(), "alias")
    except Invalid as exc:
        return back(_model_page(name), error=str(exc))
    query = urlencode({"version": version})
    return RedirectResponse(f"{_model_page(name)}/aliases/{quote(alias.strip())}/confirm?{query}", 303)


@router.get("/models/{name}/aliases/{alias}/confirm", response_class=HTMLResponse)
def confirm_alias(
    request: Request,
    name: str,
    alias: str,
    version: str = "",
    viewer: Viewer = Depends(current_viewer),
    state: ConsoleState = Depends(console),
) -> Response:
    """Say what the move will do ("Move alias production from v3 to v5?") before anything changes."""
    viewer.require("models:write")
    try:
        model = get_model(state.store, name)
        target = get_version(state.store, f"{name}@{version.strip()}")
    except ModelplaneError as exc:  # an unknown version or alias: the registry's message, nothing asked
        return back(_model_page(name), error=str(exc))
    current = model.aliases.get(alias)
    return render(
        request,
        viewer,
        "models/confirm.html",
        model=model,
        alias=alias,
        target=target,
        current=current,
        rollback=current is not None and rollback_target(model, alias) == target.version,
    )


@router.post("/models/{name}/aliases/{alias}")
def move_alias(
    name: str,
    alias: str,
    form: Mapping[str, Any] = Depends(checked_form),
    viewer: Viewer = Depends(current_viewer),
    state: ConsoleState = Depends(console),
) -> RedirectResponse:
    """The confirmed move: the API's call, by the signed-in key; a refusal comes back as its message."""
    viewer.require("models:write")
    version = str(form.get("version", "")).strip()
    try:
        before = get_model(state.store, name).aliases.get(alias)
        moved = set_alias(state.store, f"{name}@{version}", alias, by=viewer.principal.actor)
    except ModelplaneError as exc:  # refused as a whole (one transaction): the message on the model page
        return back(_model_page(name), error=str(exc))
    was = f"from v{before} " if before is not None else ""
    return back(_model_page(name), flash=f"Moved alias {alias} {was}to v{moved.version}")


def _flat(metrics: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested metrics as (dotted name, number or text) rows; lists (histories) are left out."""
    rows: list[tuple[str, Any]] = []
    for key, value in metrics.items():
        if isinstance(value, Mapping):
            rows += _flat(value, f"{prefix}{key}.")
        elif isinstance(value, int | float | str) or value is None:
            rows.append((prefix + key, value))
    return rows

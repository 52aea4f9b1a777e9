"""The control-plane FastAPI app: one router per area under /api/v1, OpenAPI at /docs."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from modelplane import __version__
from modelplane.api import mlflow
from modelplane.api.deps import ControlState, signed_in
from modelplane.api.errors import install_error_handlers
from modelplane.api.routers import (
    datasets,
    deployments,
    events,
    imports,
    jobs,
    maintenance,
    models,
    monitor,
    monitor_alerts,
    monitor_drift,
    monitor_feedback,
    monitor_log,
    optimize,
    retrain,
    runs,
    security,
)

API_PREFIX = "/api/v1"
ROUTERS = tuple(
    area.router
    for area in (
        datasets,
        runs,
        models,
        imports,
        deployments,
        security,
        jobs,
        retrain,
        optimize,
        maintenance,
        events,
        monitor,
        monitor_feedback,
        monitor_alerts,
        monitor_drift,
        monitor_log,
    )
)


def create_control_app(control: ControlState, *, public_docs: bool = False) -> FastAPI:
    """`public_docs`: /docs and /openapi.json answer without a key (`modelplane up --public-docs`); by
    default they need one, of any role, like every other route."""
    app = FastAPI(
        title="modelplane",
        version=__version__,
        summary="Data, training, registry, deployments, keys, usage and audit of one modelplane platform.",
        docs_url="/docs" if public_docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if public_docs else None,
    )
    app.state.control = control
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(mlflow.router)  # MLflow's tracking API: its client works unchanged (api/mlflow)
    if not public_docs:
        _keyed_docs(app)
    return app


def _keyed_docs(app: FastAPI) -> None:
    """The schema and Swagger UI behind a key: the same pages FastAPI serves, each route checking the key."""

    @app.get("/openapi.json", include_in_schema=False, dependencies=[signed_in()])
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=[signed_in()])
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - Swagger UI")

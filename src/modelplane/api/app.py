"""The control-plane FastAPI app: one router per area under /api/v1, OpenAPI at /docs."""

from __future__ import annotations

from fastapi import FastAPI

from modelplane import __version__
from modelplane.api.deps import ControlState
from modelplane.api.errors import install_error_handlers
from modelplane.api.routers import datasets, deployments, jobs, models, optimize, retrain, runs, security

API_PREFIX = "/api/v1"
ROUTERS = tuple(
    area.router for area in (datasets, runs, models, deployments, security, jobs, retrain, optimize)
)


def create_control_app(control: ControlState) -> FastAPI:
    app = FastAPI(
        title="modelplane",
        version=__version__,
        summary="Data, training, registry, deployments, keys, usage and audit of one modelplane platform.",
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.control = control
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    return app

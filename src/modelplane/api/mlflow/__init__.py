"""MLflow's tracking REST API, served by the platform, so `mlflow` scripts work unchanged against it.

`mlflow.set_tracking_uri("http://HOST:PORT")` with `MLFLOW_TRACKING_TOKEN` set to a modelplane API key (sent
as `Authorization: Bearer KEY`): experiments, runs, metrics, params, tags, artifacts through MLflow's
artifact proxy, logged models, and the model registry (a version created from a logged model is imported
as a modelplane version: deployable, lineage to the run). Errors come back in MLflow's shape
(`{"error_code": ..., "message": ...}`) so the client raises what its callers catch.
"""

from __future__ import annotations

from fastapi import APIRouter

from modelplane.api.mlflow import artifacts, registry, tracking

# Each area's router at the prefixes MLflow's client (and its web UI's /ajax-api) calls.
MOUNTS = (
    *(
        (area.router, prefix)
        for area in (tracking, registry)
        for prefix in ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
    ),
    (artifacts.router, "/api/2.0/mlflow-artifacts"),
)
router = APIRouter(include_in_schema=False)
for _area_router, _prefix in MOUNTS:
    router.include_router(_area_router, prefix=_prefix)

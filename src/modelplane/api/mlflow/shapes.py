"""MLflow's JSON: entities as its protos serialise them, and errors as `{"error_code", "message"}`."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from modelplane.errors import (
    Conflict,
    Forbidden,
    Invalid,
    ModelplaneError,
    NotFound,
    QuotaExceeded,
    Unauthorized,
)
from modelplane.store.orm import Experiment, LoggedModel, Run
from modelplane.training.tracking_artifacts import model_root, run_root
from modelplane.training.tracking_store import STATUS_TO_MLFLOW, to_ms

# MLflow's error codes and the statuses its server sends with them (a conflict is its 400).
_CODES: list[tuple[type[ModelplaneError], str, int]] = [
    (NotFound, "RESOURCE_DOES_NOT_EXIST", 404),
    (Conflict, "RESOURCE_ALREADY_EXISTS", 400),
    (Invalid, "INVALID_PARAMETER_VALUE", 400),
    (Unauthorized, "UNAUTHENTICATED", 401),
    (Forbidden, "PERMISSION_DENIED", 403),
    (QuotaExceeded, "REQUEST_LIMIT_EXCEEDED", 429),
]


def error_code(exc: ModelplaneError) -> tuple[str, int]:
    found = next(((code, status) for kind, code, status in _CODES if isinstance(exc, kind)), None)
    return found or ("INTERNAL_ERROR", exc.status_code)


class MlflowRoute(APIRoute):
    """Answers a typed error as MLflow's client reads it (it raises MlflowException with that code)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except ModelplaneError as exc:
                headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
                code, status = error_code(exc)
                return JSONResponse(
                    {"error_code": code, "message": str(exc)}, status_code=status, headers=headers
                )
            except RequestValidationError as exc:
                message = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                return JSONResponse(
                    {"error_code": "INVALID_PARAMETER_VALUE", "message": message}, status_code=400
                )

        return answer


def key_values(mapping: Mapping[str, Any] | None) -> list[dict[str, str]]:
    return [{"key": k, "value": str(v)} for k, v in sorted((mapping or {}).items())]


def pairs(items: list[Mapping[str, Any]] | None) -> dict[str, str]:
    """MLflow's `[{"key": k, "value": v}]` as a dict; a missing value is an empty string."""
    out: dict[str, str] = {}
    for item in items or []:
        if "key" not in item:
            raise Invalid("a param or tag without 'key'; send {'key': ..., 'value': ...}")
        out[str(item["key"])] = str(item.get("value", ""))
    return out


def artifact_uri(path: str) -> str:
    return f"mlflow-artifacts:/{path}"


def experiment(row: Experiment) -> dict[str, Any]:
    created = to_ms(row.created_at)
    return {
        "experiment_id": str(row.id),
        "name": row.name,
        "artifact_location": artifact_uri(str(row.id)),
        "lifecycle_stage": "active",
        "creation_time": created,
        "last_update_time": created,
        "tags": key_values(row.tags),
    }


def run_info(row: Run) -> dict[str, Any]:
    info: dict[str, Any] = {
        "run_id": row.id,
        "run_uuid": row.id,
        "run_name": row.name or "",
        "experiment_id": str(row.experiment_id or 0),
        "user_id": row.created_by,
        "status": STATUS_TO_MLFLOW.get(row.status, "RUNNING"),
        "start_time": to_ms(row.started_at),
        "artifact_uri": artifact_uri(run_root(row)),
        "lifecycle_stage": "active",
    }
    if row.finished_at is not None:
        info["end_time"] = to_ms(row.finished_at)
    return info


def run(row: Run, models: list[LoggedModel]) -> dict[str, Any]:
    """A run with its latest metric values (MLflow's RunData keeps the last one of each)."""
    latest = [
        {"key": k, "value": v, "step": 0, "timestamp": to_ms(row.finished_at or row.started_at)}
        for k, v in sorted((row.metrics or {}).items())
    ]
    return {
        "info": run_info(row),
        "data": {"metrics": latest, "params": key_values(row.params), "tags": key_values(row.tags)},
        "inputs": dict(row.inputs or {}),
        "outputs": {"model_outputs": [{"model_id": m.id, "step": 0} for m in models]},
    }


def logged_model(row: LoggedModel) -> dict[str, Any]:
    info: dict[str, Any] = {
        "model_id": row.id,
        "experiment_id": str(row.experiment_id),
        "name": row.name,
        "creation_timestamp_ms": to_ms(row.created_at),
        "last_updated_timestamp_ms": to_ms(row.updated_at),
        "artifact_uri": artifact_uri(model_root(row)),
        "status": row.status,
        "tags": key_values(row.tags),
    }
    if row.model_type:
        info["model_type"] = row.model_type
    if row.run_id:
        info["source_run_id"] = row.run_id
    return {"info": info, "data": {"params": key_values(row.params), "metrics": []}}

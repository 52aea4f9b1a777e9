"""Runs a user's own training code tracks: experiments, params, tags, metric points, status.

The same rows modelplane's own runs use (so `runs list`/`runs show` show both), kind `tracked`, without a
dataset. Both the Platform verbs (`runs.start`) and the MLflow tracking API (api/mlflow) write through here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelplane.errors import Conflict, Invalid, NotFound
from modelplane.security import audit
from modelplane.store import Store
from modelplane.store.db import serialise
from modelplane.store.orm import Experiment, Run, RunMetricPoint, utcnow
from modelplane.training.run_handle import MetricPoint, now_ms

TRACKED = "tracked"
DEFAULT_EXPERIMENT = "Default"
# MLflow's run states and modelplane's: a tracked run reads the same in `runs list` as a trained one.
STATUS_FROM_MLFLOW = {
    "RUNNING": "running",
    "SCHEDULED": "queued",
    "FINISHED": "succeeded",
    "FAILED": "failed",
    "KILLED": "interrupted",
}
STATUS_TO_MLFLOW = {v: k for k, v in STATUS_FROM_MLFLOW.items()}
MAX_KEY = 250
MAX_VALUE = 6000


def to_ms(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _check_key(kind: str, key: str) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY:
        raise Invalid(f"{kind} name {key!r} must be 1 to {MAX_KEY} characters; give it a short name")
    return key


# --- experiments -------------------------------------------------------------------------------------


def default_experiment(session: Session) -> Experiment:
    """Experiment 0, "Default": where runs go that name none (as in MLflow); made on first use."""
    row = session.get(Experiment, 0)
    if row is None:
        serialise(session, "experiment:0")
        row = session.get(Experiment, 0)
    if row is None:
        row = Experiment(id=0, name=DEFAULT_EXPERIMENT, tags={}, created_by="")
        session.add(row)
        session.flush()
    return row


def experiment_by_id(session: Session, experiment_id: str | int) -> Experiment:
    try:
        number = int(experiment_id)
    except (TypeError, ValueError):
        raise NotFound(f"experiment id {experiment_id!r} not found; experiment ids are numbers") from None
    row = default_experiment(session) if number == 0 else session.get(Experiment, number)
    if row is None:
        raise NotFound(f"experiment {experiment_id} not found; create it (mlflow.set_experiment) first")
    return row


def experiment_by_name(session: Session, name: str) -> Experiment | None:
    if name == DEFAULT_EXPERIMENT:
        return default_experiment(session)
    return session.scalar(select(Experiment).where(Experiment.name == name))


def create_experiment(
    session: Session, name: str, *, tags: Mapping[str, str] | None = None, by: str = ""
) -> Experiment:
    _check_key("experiment", name)
    serialise(session, f"experiment:{name}")  # two first runs of a new experiment make it once
    if experiment_by_name(session, name) is not None:
        raise Conflict(f"experiment {name!r} exists; use it, or pick another name")
    default_experiment(session)  # so the new one never takes id 0
    row = Experiment(name=name, tags=dict(tags or {}), created_by=by)
    session.add(row)
    session.flush()
    audit.append(session, by, "experiment.created", str(row.id), {"name": name})
    return row


def resolve_experiment(session: Session, experiment: str | None, *, by: str) -> Experiment:
    """A name (made when new) or None (Default)."""
    if experiment is None:
        return default_experiment(session)
    serialise(session, f"experiment:{experiment}")
    return experiment_by_name(session, experiment) or create_experiment(session, experiment, by=by)


# --- runs --------------------------------------------------------------------------------------------


def create_run(
    session: Session,
    experiment: Experiment,
    *,
    name: str | None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    start_ms: int | None = None,
    by: str = "",
) -> Run:
    row = Run(
        id=uuid.uuid4().hex,
        status="running",
        model_name="",
        kind=TRACKED,
        dataset_version_id=None,
        spec={},
        config={},
        split={},
        metrics={},
        name=name or None,
        experiment_id=experiment.id,
        params={},
        tags={},
        started_at=from_ms(start_ms) if start_ms else utcnow(),
        created_by=by,
    )
    session.add(row)
    session.flush()
    _merge_params(row, params or {})
    _merge_tags(row, tags or {})
    audit.append(session, by, "run.started", row.id, {"kind": TRACKED, "experiment": experiment.name})
    return row


def tracked_run(session: Session, run_id: str) -> Run:
    """The tracked run `run_id` (a full id), locked for this change; Conflict for one modelplane trains."""
    serialise(session, f"run:{run_id}")
    row = session.get(Run, run_id)
    if row is None:
        raise NotFound(f"run '{run_id}' not found; start one with runs.start (or mlflow.start_run)")
    if row.kind != TRACKED:
        raise Conflict(f"run {row.id} is a modelplane training run; only tracked runs take logged values")
    return row


def _merge_params(row: Run, params: Mapping[str, Any]) -> None:
    """MLflow's rule: a param, once logged, keeps its value (log it again with the same value, or not)."""
    merged = dict(row.params or {})
    for key, value in params.items():
        text = str(value)
        if len(text) > MAX_VALUE:
            raise Invalid(f"param {key!r} is {len(text)} characters; params hold at most {MAX_VALUE}")
        if merged.get(_check_key("param", key), text) != text:
            raise Conflict(
                f"param {key!r} was logged as {merged[key]!r} in run {row.id}; params cannot change: "
                "log the new value under another name, or start a new run"
            )
        merged[key] = text
    row.params = merged


def _merge_tags(row: Run, tags: Mapping[str, Any]) -> None:
    merged = dict(row.tags or {})
    merged.update({_check_key("tag", k): str(v) for k, v in tags.items()})
    row.tags = merged
    if merged.get("mlflow.runName") and not row.name:
        row.name = merged["mlflow.runName"]


def log(
    session: Session,
    row: Run,
    *,
    metrics: Iterable[MetricPoint] = (),
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
) -> None:
    """Add metric points, params and tags to a tracked run; a run's `metrics` keep each one's latest value
    (MLflow's: at the highest step, then the latest time), whatever order the points arrive in."""
    _merge_params(row, params or {})
    _merge_tags(row, tags or {})
    latest = dict(row.metrics or {})
    for point in metrics:
        _check_key("metric", point.key)
        try:
            value = float(point.value)
        except (TypeError, ValueError):
            raise Invalid(f"metric {point.key!r} has value {point.value!r}; log a number") from None
        logged = RunMetricPoint(
            run_id=row.id,
            name=point.key,
            step=int(point.step),
            timestamp_ms=point.timestamp_ms or now_ms(),
            value=value,
        )
        if not _logged_already(session, logged):
            session.add(logged)
        latest[point.key] = _latest(session, row.id, point.key)
    row.metrics = latest


def add_inputs(row: Run, *, datasets: list[dict[str, Any]], models: list[dict[str, Any]]) -> None:
    """MLflow's run inputs (`{"dataset": {name, digest, ...}, "tags": [...]}`, `{"model_id": ...}`), each
    kept once: a dataset by name and digest, a model by id."""
    inputs = dict(row.inputs or {})
    known = list(inputs.get("dataset_inputs", []))
    for item in datasets:
        dataset = item.get("dataset") or {}
        if not dataset.get("name") or not dataset.get("digest"):
            raise Invalid("a dataset input needs 'name' and 'digest'; log it with mlflow.log_input")
        same = [
            k
            for k in known
            if (k["dataset"]["name"], k["dataset"]["digest"]) == (dataset["name"], dataset["digest"])
        ]
        if not same:
            known.append({"dataset": dict(dataset), "tags": list(item.get("tags") or [])})
    model_ids = [m["model_id"] for m in inputs.get("model_inputs", [])]
    model_ids += [m["model_id"] for m in models if m["model_id"] not in model_ids]
    row.inputs = {"dataset_inputs": known, "model_inputs": [{"model_id": m} for m in model_ids]}


def _latest(session: Session, run_id: str, key: str) -> float:
    session.flush()
    query = select(RunMetricPoint.value).where(RunMetricPoint.run_id == run_id, RunMetricPoint.name == key)
    order = (RunMetricPoint.step.desc(), RunMetricPoint.timestamp_ms.desc(), RunMetricPoint.id.desc())
    value = session.scalar(query.order_by(*order).limit(1))
    assert value is not None  # a point was just added, or was there
    return float(value)


def _logged_already(session: Session, point: RunMetricPoint) -> bool:
    """The same value at the same step and time is one point, as in MLflow (whose `log_model` logs a run's
    metrics again to link them to the model)."""
    session.flush()
    same = select(RunMetricPoint.id).where(
        RunMetricPoint.run_id == point.run_id,
        RunMetricPoint.name == point.name,
        RunMetricPoint.step == point.step,
        RunMetricPoint.timestamp_ms == point.timestamp_ms,
        RunMetricPoint.value == point.value,
    )
    return session.scalar(same.limit(1)) is not None


def end(
    session: Session, row: Run, status: str, *, end_ms: int | None = None, error: str | None = None
) -> None:
    """Set a tracked run's state (`succeeded`, `failed`, `interrupted`, or `running` again)."""
    if status not in STATUS_TO_MLFLOW:
        raise Invalid(f"unknown run status {status!r}; use one of {', '.join(STATUS_FROM_MLFLOW)}")
    row.status, row.error = status, error
    if status != "running":
        row.finished_at = from_ms(end_ms) if end_ms else utcnow()
        row.duration_s = max(0.0, (row.finished_at - _aware(row.started_at)).total_seconds())
        audit.append(session, row.created_by, "run.finished", row.id, {"status": status})


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def metric_history(store: Store, run_id: str, key: str) -> list[RunMetricPoint]:
    with store.db.session() as session:
        if session.get(Run, run_id) is None:
            raise NotFound(f"run '{run_id}' not found; list runs with `modelplane runs list`")
        points = session.scalars(
            select(RunMetricPoint)
            .where(RunMetricPoint.run_id == run_id, RunMetricPoint.name == key)
            .order_by(RunMetricPoint.step, RunMetricPoint.timestamp_ms, RunMetricPoint.id)
        ).all()
        session.expunge_all()
        return list(points)


def step_history(session: Session, run_id: str) -> list[dict[str, float]]:
    """Per step, each metric's last value: what `runs show` draws for a tracked run (as epochs for others)."""
    steps: dict[int, dict[str, float]] = {}
    query = select(RunMetricPoint).where(RunMetricPoint.run_id == run_id)
    for point in session.scalars(
        query.order_by(RunMetricPoint.step, RunMetricPoint.timestamp_ms, RunMetricPoint.id)
    ):
        steps.setdefault(point.step, {"step": float(point.step)})[point.name] = point.value
    return [steps[s] for s in sorted(steps)]

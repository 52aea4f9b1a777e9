"""Runs as users see them: inputs, status, per-epoch metrics and the version they registered (built from rows
in run_catalog.py; a client builds them from JSON)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class RunInfo:
    id: str
    status: str
    model_name: str
    kind: str
    dataset: str
    spec: dict[str, Any]
    config: dict[str, Any]
    split: dict[str, Any]
    metrics: dict[str, Any]
    history: list[dict[str, float]]
    model_version: str | None
    code_version: str | None
    error: str | None
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    created_by: str
    # A tracked run (your own code, or the MLflow client): its name, experiment, params, tags, artifacts.
    # Its `history` is per step (`step` and each metric's last value there) instead of per epoch.
    name: str | None = None
    experiment: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return data

"""Runs as users see them: inputs, status, per-epoch metrics and the version they registered (built from rows
in run_catalog.py; a client builds them from JSON)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
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

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return data

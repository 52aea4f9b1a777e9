"""Studies and trials as users see them, detached from Optuna objects (clients load these without Optuna)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class TrialInfo:
    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    epochs: int  # epochs it ran (a scikit-learn fit counts as one)
    run_id: str | None
    validation: dict[str, float]
    error: str | None
    retry_of: int | None
    duration_s: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StudyInfo:
    name: str
    model: str  # model kind
    data: str  # NAME@VERSION
    model_name: str  # where the best trial is registered
    metric: str
    direction: str
    sampler: str
    pruner: str
    trials_budget: int | None
    timeout_s: float | None
    trials_done: int  # counted against the budget
    states: dict[str, int]
    best_trial: int | None
    best_value: float | None
    best_params: dict[str, Any]
    model_version: str | None
    created_at: str | None
    created_by: str
    space: dict[str, Any]
    trials: list[TrialInfo] = field(default_factory=list)
    importances: dict[str, float] | None = None
    importance_note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StudyProgress:
    """Where a running study stands, reported as trials end. In-process it is read from the study's storage
    (so it counts worker processes' trials too); a server's job reports `used` and `budget` only."""

    used: int  # finished trials that count against the budget
    budget: int | None
    metric: str | None = None
    best_value: float | None = None
    best_trial: int | None = None
    pruned: int = 0
    failed: int = 0

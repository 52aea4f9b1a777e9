"""What `modelplane tune` takes, validated before any trial runs: data, model, budget, objective, search."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modelplane.data.splits import SplitConfig
from modelplane.errors import Invalid
from modelplane.validation import validated

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([hms])")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0}


@dataclass(frozen=True)
class Objective:
    """The metric a study optimises, and the trainer's per-epoch metric that pruning watches for it.

    F1 and R² are not computed every epoch, so pruning follows accuracy (for f1) and -MSE (for r2), which
    move the same way; the trial's value itself is always the named metric on the validation split.
    """

    name: str
    key: str  # in the validation metrics of a run
    task: str
    direction: Literal["maximize", "minimize"]
    monitor: str  # per-epoch trainer metric; also picks the best epoch's weights
    sign: float  # intermediate value = sign * epoch[monitor], so that it improves along `direction`

    def intermediate(self, epoch: Mapping[str, float]) -> float:
        return self.sign * float(epoch[self.monitor])


OBJECTIVES = {
    "accuracy": Objective("accuracy", "accuracy", "classification", "maximize", "val_accuracy", 1.0),
    "f1": Objective("f1", "f1_macro", "classification", "maximize", "val_accuracy", 1.0),
    "mse": Objective("mse", "mse", "regression", "minimize", "val_mse", 1.0),
    "mae": Objective("mae", "mae", "regression", "minimize", "val_mae", 1.0),
    "r2": Objective("r2", "r2", "regression", "maximize", "val_mse", -1.0),
}
DEFAULT_METRIC = {"classification": "accuracy", "regression": "mse"}


def objective_for(metric: str | None, task: str) -> Objective:
    """The objective for `metric` (the task's default when None), checked against the dataset's task."""
    name = metric or DEFAULT_METRIC[task]
    if name not in OBJECTIVES:
        raise Invalid(f"unknown metric {name!r}; choose one of {', '.join(OBJECTIVES)}")
    objective = OBJECTIVES[name]
    if objective.task != task:
        fits = ", ".join(k for k, v in OBJECTIVES.items() if v.task == task)
        raise Invalid(f"metric {name!r} is for {objective.task}, but the dataset is {task}; use {fits}")
    return objective


def parse_duration(text: str | float) -> float:
    """Seconds from `90s`, `10m`, `1h`, `1h30m` or a plain number of seconds."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return float(text)
    cleaned = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", cleaned):
        return float(cleaned)
    parts = _DURATION.findall(cleaned)
    if not parts or "".join(n + u for n, u in parts) != cleaned:
        raise Invalid(f"timeout {text!r} is not a duration; write e.g. 90s, 10m, 1h or 1h30m")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


class TuneConfig(BaseModel):
    """A study's settings, stored with it so `--resume` continues with exactly these."""

    model_config = ConfigDict(extra="forbid")

    data: str
    model: str
    name: str | None = Field(None, description="study name (default DATA-MODEL-N)")
    model_name: str | None = Field(None, description="registered model name (default DATA-MODEL)")
    trials: int | None = None
    timeout: float | None = Field(None, description="seconds of searching per session")
    parallel: int = Field(1, ge=1, description="trials at once, each in its own process")
    metric: str | None = None
    sampler: Literal["tpe", "random"] = "tpe"
    pruner: Literal["median", "hyperband", "none"] = "median"
    seed: int = 0
    space: dict[str, Any] | None = Field(None, description="search space; None: the model's default")
    spec: dict[str, Any] = Field(default_factory=dict, description="fixed model spec fields")
    train: dict[str, Any] = Field(default_factory=dict, description="fixed training fields, e.g. epochs")
    split: SplitConfig = Field(default_factory=lambda: SplitConfig())

    @field_validator("trials")
    @classmethod
    def _some_trials(cls, trials: int | None) -> int | None:
        if trials is not None and trials < 1:
            raise ValueError(f"a budget of {trials} trials runs nothing; give --trials N with N >= 1")
        return trials

    @field_validator("timeout", mode="before")
    @classmethod
    def _some_time(cls, timeout: Any) -> float | None:
        if timeout is None:
            return None
        seconds = parse_duration(timeout)
        if seconds <= 0:
            raise ValueError(f"a timeout of {timeout!r} leaves no time to search; give e.g. --timeout 10m")
        return seconds

    @model_validator(mode="after")
    def _has_budget(self) -> TuneConfig:
        if self.trials is None and self.timeout is None:
            raise Invalid("say how long to search: --trials N and/or --timeout 10m")
        return self


def parse_tune_config(data: Mapping[str, Any]) -> TuneConfig:
    return validated(TuneConfig, data, "tuning config")

"""The distributions a search space is made of, and how each one asks an Optuna trial for a value."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import optuna
from pydantic import BaseModel, ConfigDict, Field, model_validator

Scalar = str | int | float | bool | None


class _Dist(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_range(low: float, high: float, log: bool, step: float | None) -> None:
    if low > high:
        raise ValueError(f"empty range: low {low} > high {high}; swap them")
    if log and low <= 0:
        raise ValueError(f"a log scale needs low > 0, got low {low}; raise low or drop log")
    if log and step not in (None, 1):
        raise ValueError("log and step cannot be combined; drop one of them")


class FloatRange(_Dist):
    type: Literal["float"] = "float"
    low: float
    high: float
    log: bool = False
    step: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _check(self) -> FloatRange:
        _check_range(self.low, self.high, self.log, self.step)
        return self

    def corners(self) -> list[Any]:
        return [self.low, self.high]

    def suggest(self, trial: optuna.Trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log, step=self.step)


class IntRange(_Dist):
    type: Literal["int"] = "int"
    low: int
    high: int
    log: bool = False
    step: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _check(self) -> IntRange:
        _check_range(self.low, self.high, self.log, self.step)
        return self

    def corners(self) -> list[Any]:
        return [self.low, self.high]

    def suggest(self, trial: optuna.Trial, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, log=self.log, step=self.step)


class Categorical(_Dist):
    type: Literal["categorical"] = "categorical"
    choices: list[Scalar]

    @model_validator(mode="after")
    def _check(self) -> Categorical:
        if not self.choices:
            raise ValueError("no choices to pick from; list at least one")
        return self

    def corners(self) -> list[Any]:
        return list(self.choices)

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        return trial.suggest_categorical(name, self.choices)


class Layers(_Dist):
    """A list field (hidden, channels, dense): how many layers, and each layer's width on its own."""

    type: Literal["layers"] = "layers"
    layers: tuple[int, int]
    width: tuple[int, int]
    log: bool = False

    @model_validator(mode="after")
    def _check(self) -> Layers:
        (fewest, most), (narrowest, widest) = self.layers, self.width
        if fewest < 0 or narrowest < 1:
            raise ValueError(
                f"layers must be >= 0 and width >= 1, got {list(self.layers)}, {list(self.width)}"
            )
        _check_range(fewest, most, False, None)
        _check_range(narrowest, widest, self.log, None)
        return self

    def corners(self) -> list[Any]:
        (fewest, most), (narrowest, widest) = self.layers, self.width
        return [[narrowest] * fewest, [widest] * most]

    def suggest(self, trial: optuna.Trial, name: str) -> list[int]:
        count = trial.suggest_int(f"{name}_layers", *self.layers)
        return [trial.suggest_int(f"{name}_{i}", *self.width, log=self.log) for i in range(count)]


class Fixed(_Dist):
    """Not searched: every trial uses this value."""

    type: Literal["fixed"] = "fixed"
    value: Any

    def corners(self) -> list[Any]:
        return [self.value]

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        return self.value


AnyDistribution = FloatRange | IntRange | Categorical | Layers | Fixed
Distribution = Annotated[AnyDistribution, Field(discriminator="type")]
DISTRIBUTION_TYPES = ("float", "int", "categorical", "layers", "fixed")

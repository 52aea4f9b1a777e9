"""Per deployment: how much of its traffic is logged, how long the log is kept, and how it is watched."""

from __future__ import annotations

import re
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelplane.errors import Invalid

DRIFT_TESTS = ("ks", "chi2", "wasserstein", "jensenshannon", "psi")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


class MonitoringSpec(BaseModel):
    """`log_sample`: the fraction of requests logged (0 = off); `retain_days` / `retain_bytes`: the log's
    age and size caps; `window_s` / `every_s`: the monitor job's window and how often it runs; `drift` and
    `feature_drift`: thresholds replacing the defaults per test (`ks`/`chi2`: p-value below which a feature
    drifted; `wasserstein`/`jensenshannon`/`psi`: distance at or above which it did), for the deployment
    or one feature."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    log_sample: float = Field(default=1.0, ge=0.0, le=1.0)
    retain_days: float = Field(default=30.0, gt=0)
    retain_bytes: int | None = Field(default=None, ge=1_000_000)
    window_s: float = Field(default=3600.0, ge=60)
    every_s: float = Field(default=300.0, ge=10)
    drift: dict[str, float] = Field(default_factory=dict)
    feature_drift: dict[str, dict[str, float]] = Field(default_factory=dict)

    @field_validator("drift")
    @classmethod
    def _known_tests(cls, thresholds: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(thresholds) - set(DRIFT_TESTS))
        if unknown:
            raise ValueError(f"unknown drift test {unknown[0]!r}; the tests are {', '.join(DRIFT_TESTS)}")
        if any(value <= 0 for value in thresholds.values()):
            raise ValueError("drift thresholds must be positive (a p-value or a distance)")
        return thresholds

    @field_validator("feature_drift")
    @classmethod
    def _known_feature_tests(cls, thresholds: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for per_feature in thresholds.values():
            cls._known_tests(per_feature)
        return thresholds


def parse_duration(text: str, what: str = "duration") -> timedelta:
    """`30d`, `1h`, `15m`, `90s`, `2w` (a number and one unit) as a timedelta; Invalid shows an example."""
    found = _DURATION.match(text)
    if found is None or float(found.group(1)) <= 0:
        raise Invalid(
            f"{what} {text!r} is not a duration; write a positive number and a unit, e.g. 30d, 1h, 15m"
        )
    return timedelta(seconds=float(found.group(1)) * _UNITS[found.group(2)])

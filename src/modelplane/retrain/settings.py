"""A policy's settings as a user writes them (`--on`, `--canary`, `--replay` ...), parsed and checked on
their own; the checks that need the store (model, dataset, deployment) live in policies.py."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from modelplane.errors import Invalid
from modelplane.refs import check_name
from modelplane.retrain.cron import parse_cron

if TYPE_CHECKING:
    from modelplane.store.orm import RetrainPolicy

TRIGGERS = ("new-data", "schedule", "manual", "drift", "accuracy-drop")
ALERT_TRIGGERS = ("drift", "accuracy-drop")
TRIGGER_GRAMMAR = "new-data, manual, drift, accuracy-drop or schedule:CRON (e.g. 'schedule:0 3 * * *')"
CANARY_GRAMMAR = "PERCENT:DURATION (e.g. 10:15m, 25:2h or 5:30s) or none"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Half the old training rows for 5 epochs: close to a model trained from scratch in a fifth of its time,
# where less replay fell short (bench/retrain.py has the measurements).
DEFAULT_REPLAY, DEFAULT_EPOCHS = 0.5, 5
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")


def format_duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


@dataclass(frozen=True)
class PolicySettings:
    """Everything a firing snapshots, so editing the policy later does not change a job already queued."""

    dataset: str
    trigger: str
    schedule: str | None
    gate: str
    canary_percent: float | None
    canary_seconds: float | None
    replay: float
    epochs: int
    lr: float | None
    enabled: bool
    when: tuple[str, ...] = ()  # the alert rules of a drift / accuracy-drop trigger

    @property
    def on(self) -> str:
        return f"schedule:{self.schedule}" if self.trigger == "schedule" else self.trigger

    @property
    def canary(self) -> str:
        if self.canary_percent is None or self.canary_seconds is None:
            return "none"
        return f"{self.canary_percent:g}:{format_duration(self.canary_seconds)}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_trigger(text: str) -> tuple[str, str | None]:
    """(`new-data` | `manual` | `drift` | `accuracy-drop` | `schedule`, the cron expression of a schedule)."""
    kind, colon, expression = text.strip().partition(":")
    if kind == "schedule" and colon:
        return "schedule", parse_cron(expression).text
    if kind in ("new-data", "manual", *ALERT_TRIGGERS) and not colon:
        return kind, None
    raise Invalid(f"unknown trigger {text!r}; use {TRIGGER_GRAMMAR}")


def parse_canary(text: str | None) -> tuple[float | None, float | None]:
    """(percent of traffic, seconds) of the canary phase, or (None, None) for none."""
    if text is None or text.strip().lower() in ("", "none"):
        return None, None
    percent_text, colon, duration = text.strip().partition(":")
    found = _DURATION.match(duration.strip().lower())
    if not colon or found is None:
        raise Invalid(f"canary {text!r} is not {CANARY_GRAMMAR}")
    try:
        percent = float(percent_text.strip().rstrip("%"))
    except ValueError:
        raise Invalid(
            f"canary {text!r}: {percent_text!r} is not a percentage; write {CANARY_GRAMMAR}"
        ) from None
    if not 0 < percent < 100:
        raise Invalid(
            f"canary {text!r}: the canary's share of traffic must be between 0 and 100 % (exclusive), "
            f"got {percent:g}; write {CANARY_GRAMMAR}"
        )
    seconds = float(found.group(1)) * _UNITS[found.group(2)]
    if seconds <= 0:
        raise Invalid(f"canary {text!r}: the duration must be longer than 0; write {CANARY_GRAMMAR}")
    return percent, seconds


def parse_settings(
    *,
    data: str,
    on: str,
    gate: str,
    canary: str | None,
    replay: float,
    epochs: int,
    lr: float | None,
    enabled: bool,
    when: str | None = None,
) -> PolicySettings:
    """Every check that needs no store; `gate` is checked against the model's task by the caller."""
    check_name(data, "dataset")
    trigger, schedule = parse_trigger(on)
    rules = parse_when(trigger, when)
    percent, seconds = parse_canary(canary)
    if not (math.isfinite(replay) and 0.0 <= replay <= 1.0):
        raise Invalid(
            f"--replay {replay:g} is not a fraction; give the share of old training rows replayed next to "
            "the new ones, between 0 and 1 (e.g. 0.2)"
        )
    if epochs < 1:
        raise Invalid(f"--epochs {epochs} must be at least 1 (the fine-tuning epochs of a retrain)")
    if lr is not None and not (math.isfinite(lr) and lr > 0):
        raise Invalid(
            f"--lr {lr:g} must be a positive learning rate (or leave it out: a quarter of production's)"
        )
    return PolicySettings(data, trigger, schedule, gate, percent, seconds, replay, epochs, lr, enabled, rules)


def parse_when(trigger: str, when: str | None) -> tuple[str, ...]:
    """The alert rules a drift / accuracy-drop trigger watches: `when`, or the trigger's defaults."""
    from modelplane.monitoring.alert_rules import parse_rule
    from modelplane.retrain.alert_triggers import DEFAULT_WHEN

    if trigger not in ALERT_TRIGGERS:
        if when is not None:
            raise Invalid(
                f"--when applies to the drift and accuracy-drop triggers only, not {trigger}; drop it or "
                "use --on drift / --on accuracy-drop"
            )
        return ()
    if when is None or not when.strip():
        return DEFAULT_WHEN[trigger]
    return (parse_rule(when).text,)


def settings_of(row: RetrainPolicy) -> PolicySettings:
    return PolicySettings(
        row.dataset,
        row.trigger,
        row.schedule,
        row.gate,
        row.canary_percent,
        row.canary_seconds,
        row.replay,
        row.epochs,
        row.lr,
        row.enabled,
        tuple(row.alert_when or ()),
    )

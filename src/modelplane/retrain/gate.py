"""The gate a retrained candidate must pass before it goes anywhere near production.

A gate is one or more conditions joined by ',' (all must hold), each `METRIC OP THRESHOLD`:
`accuracy>=production-0.002` (at most 0.2 pt worse than production), `accuracy>=0.95` (an absolute floor),
`mse<=production*1.05` (at most 5% worse). Both models are scored on the same held-out test rows, so the
comparison is like for like. Parsed when the policy is set, so a typo fails then, not at 3 a.m.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from modelplane.errors import Invalid

METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc", "log_loss"),
    "regression": ("mse", "rmse", "mae", "r2"),
}
DEFAULT_GATES = {"classification": "accuracy>=production", "regression": "mse<=production"}
GRAMMAR = (
    "METRIC OP THRESHOLD, e.g. accuracy>=production-0.002, accuracy>=0.95 or mse<=production*1.05 "
    "(OP is >=, <=, > or <; THRESHOLD is a number, production, production+N, production-N or "
    "production*N; join conditions with ',')"
)
_CONDITION = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|>|<)\s*(.+)$")
_RELATIVE = re.compile(r"^production\s*(?:([-+*])\s*(.+))?$")
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}
_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
}


@dataclass(frozen=True)
class Condition:
    metric: str
    op: str
    value: float  # the threshold, or the operand applied to production's value
    relative: str | None  # None: absolute; "": production itself; "+", "-", "*": production OP value

    def threshold(self, production: float) -> tuple[float, str]:
        """The number the candidate is held to, and how it was reached."""
        if self.relative is None:
            return self.value, f"{self.value:g}"
        if not self.relative:
            return production, f"production {production:.4f}"
        found = _ARITHMETIC[self.relative](production, self.value)
        return found, f"production {production:.4f} {self.relative} {self.value:g}"


@dataclass(frozen=True)
class Verdict:
    passed: bool
    lines: tuple[str, ...]  # one per condition: the numbers and whether it held

    @property
    def summary(self) -> str:
        return "; ".join(self.lines)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "conditions": list(self.lines)}


@dataclass(frozen=True)
class Gate:
    text: str
    conditions: tuple[Condition, ...]

    def judge(self, candidate: Mapping[str, Any], production: Mapping[str, Any]) -> Verdict:
        """Hold the candidate's test metrics to each condition; an undefined metric fails its condition."""
        lines, passed = [], True
        for c in self.conditions:
            mine, theirs = _number_or_none(candidate.get(c.metric)), _number_or_none(production.get(c.metric))
            if mine is None or (c.relative is not None and theirs is None):
                passed = False
                lines.append(
                    f"{c.metric} is undefined on these test rows (candidate {mine}, production {theirs})"
                )
                continue
            limit, how = c.threshold(theirs if theirs is not None else math.nan)
            held = _COMPARE[c.op](mine, limit)
            passed = passed and held
            verdict = "passed" if held else "failed"
            lines.append(f"{c.metric} {mine:.4f} {c.op} {limit:.4f} ({how}): {verdict}")
        return Verdict(passed, tuple(lines))


def _number_or_none(value: Any) -> float | None:
    """A metric's value, or None where it is undefined (roc_auc with a class missing from the rows)."""
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _number(text: str, gate: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise Invalid(f"gate {gate!r} does not parse: {text!r} is not a number; write {GRAMMAR}") from None
    if not math.isfinite(value):
        raise Invalid(f"gate {gate!r} does not parse: {text!r} is not a finite number; write {GRAMMAR}")
    return value


def parse_gate(text: str, task: str) -> Gate:
    """The gate for a model of `task`, or Invalid naming what does not parse or which metrics exist."""
    known = METRICS[task]
    conditions = []
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or not all(parts):
        raise Invalid(f"gate {text!r} does not parse: a condition is empty; write {GRAMMAR}")
    for part in parts:
        found = _CONDITION.match(part)
        if found is None:
            raise Invalid(f"gate {text!r} does not parse at {part!r}; write {GRAMMAR}")
        metric, op, rhs = found.group(1), found.group(2), found.group(3).strip()
        if metric not in known:
            raise Invalid(
                f"gate {text!r}: unknown metric {metric!r} for a {task} model; use one of {', '.join(known)}"
            )
        relative = _RELATIVE.match(rhs)
        if relative is None:
            conditions.append(Condition(metric, op, _number(rhs, text), None))
        elif relative.group(1) is None:
            conditions.append(Condition(metric, op, 0.0, ""))
        else:
            conditions.append(Condition(metric, op, _number(relative.group(2), text), relative.group(1)))
    return Gate(", ".join(parts), tuple(conditions))

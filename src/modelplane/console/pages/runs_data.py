"""What the runs pages show, drawn from run views: key metric columns, curves for uPlot, parameter diffs.

A trained run keeps its final metrics per split (`{"test": {...}, "validation": {...}}`) and a history per
epoch; a tracked run keeps each metric's latest value flat and a history per step. Both read the same here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from modelplane.training.run_views import RunInfo

SCORES = ("accuracy", "r2", "f1_macro", "f1")  # the first a split has is the run's score
LOSSES = ("log_loss", "loss", "mse", "rmse", "mae")
AXES = ("epoch", "step")
# Per-epoch figures that are not model quality: kept out of the curves (other scales, other meaning).
OPERATIONAL = frozenset({"lr", "seconds", "samples_per_s"})


def key_metrics(metrics: Mapping[str, Any]) -> dict[str, tuple[str, float] | None]:
    """The columns of a runs table: test score, validation score and test loss, each (name, value)."""
    test, validation = metrics.get("test"), metrics.get("validation")
    if isinstance(test, Mapping) or isinstance(validation, Mapping):
        test = test if isinstance(test, Mapping) else {}
        validation = validation if isinstance(validation, Mapping) else {}
        return {
            "test": _first(test, SCORES),
            "val": _first(validation, SCORES),
            "loss": _first(test, LOSSES) or _first(validation, LOSSES),
        }
    flat = {k: v for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    return {
        "test": _first(flat, tuple(f"test_{s}" for s in SCORES) + SCORES),
        "val": _first(flat, tuple(f"val_{s}" for s in SCORES)),
        "loss": _first(flat, ("test_loss", "val_loss", "loss", *LOSSES)),
    }


def _first(values: Mapping[str, Any], names: Sequence[str]) -> tuple[str, float] | None:
    for name in names:
        value = values.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return name, float(value)
    return None


def axis_of(history: Sequence[Mapping[str, float]]) -> str:
    """'epoch' for a trained run's history, 'step' for a tracked run's."""
    return next((a for a in AXES if history and a in history[0]), "epoch")


def curves(run: RunInfo) -> dict[str, Any]:
    """The run's history as two uPlot charts: the losses, and every other quality metric."""
    axis = axis_of(run.history)
    names = _metric_names([run])
    x = [point.get(axis) for point in run.history]

    def series(chosen: list[str]) -> list[dict[str, Any]]:
        return [{"label": n, "values": [point.get(n) for point in run.history]} for n in chosen]

    return {
        "axis": axis,
        "x": x,
        "losses": series([n for n in names if "loss" in n]),
        "metrics": series([n for n in names if "loss" not in n]),
    }


def overlays(runs: Sequence[RunInfo]) -> list[dict[str, Any]]:
    """One chart per metric any of the runs logged, one series per run, on the union of their epochs."""
    charts = []
    for name in _metric_names(runs):
        xs = sorted({p[axis_of(r.history)] for r in runs for p in r.history if name in p})
        series = []
        for run in runs:
            by_x = {p[axis_of(run.history)]: p[name] for p in run.history if name in p}
            series.append({"label": run.id, "values": [by_x.get(x) for x in xs]})
        axis = next(axis_of(r.history) for r in runs if any(name in p for p in r.history))
        charts.append({"metric": name, "axis": axis, "x": xs, "series": series})
    return charts


def _metric_names(runs: Sequence[RunInfo]) -> list[str]:
    names: dict[str, None] = {}
    for run in runs:
        for point in run.history:
            names.update((k, None) for k in point if k not in AXES and k not in OPERATIONAL)
    return sorted(names)


def params_of(run: RunInfo) -> dict[str, str]:
    """A run's inputs as flat `section.name` rows: a trained run's model spec, training config and split;
    a tracked run's logged params."""
    if run.params or not (run.spec or run.config):
        return dict(sorted(run.params.items()))
    flat: dict[str, str] = {}
    for section, values in (("model", run.spec), ("train", run.config), ("split", run.split)):
        _flatten(section, values, flat)
    return flat


def _flatten(prefix: str, value: Any, into: dict[str, str]) -> None:
    if isinstance(value, Mapping) and value:
        for key in sorted(value):
            _flatten(f"{prefix}.{key}", value[key], into)
    else:
        into[prefix] = value if isinstance(value, str) else json.dumps(value)


def param_diff(runs: Sequence[RunInfo]) -> list[dict[str, Any]]:
    """Rows of (param, each run's value or None where it has none, whether they differ); differing first."""
    params = [params_of(run) for run in runs]
    names = sorted({name for p in params for name in p})
    rows = [
        {"name": n, "cells": values, "differs": len(set(values)) > 1}
        for n in names
        for values in [[p.get(n) for p in params]]
    ]
    return sorted(rows, key=lambda row: not row["differs"])


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m {rest:02d}s" if minutes < 60 else f"{minutes // 60}h {minutes % 60:02d}m"

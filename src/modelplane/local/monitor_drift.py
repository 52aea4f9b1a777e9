"""Drift in-process: computed from the prediction log under this home."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

from modelplane.store import Store

if TYPE_CHECKING:
    from modelplane.monitoring.drift import DriftReport


class Drift:
    def __init__(self, store: Store) -> None:
        self._store = store

    def compute(self, deployment: str, *, window: str = "1h") -> builtins.list[DriftReport]:
        from modelplane.monitoring.drift_window import compute_drift
        from modelplane.monitoring.settings import parse_duration

        span = parse_duration(window, "--window")
        return compute_drift(self._store, self._store.settings.home, deployment, window=span)

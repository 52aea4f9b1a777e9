"""Feedback and live metrics in-process (you hold the database: feedback is stored without a key id)."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from modelplane.store import Store

if TYPE_CHECKING:
    from modelplane.monitoring.feedback import FeedbackItem, FeedbackResult
    from modelplane.monitoring.live import LiveMetrics


class Feedback:
    def __init__(self, store: Store) -> None:
        self._store = store

    def send(self, deployment: str, items: Sequence[Mapping[str, Any] | FeedbackItem]) -> FeedbackResult:
        from modelplane.monitoring.feedback import record_feedback

        return record_feedback(self._store, self._store.settings.home, deployment, items, key_id=None)

    def live(self, deployment: str, *, window: str = "1h") -> builtins.list[LiveMetrics]:
        from modelplane.monitoring.live import live_metrics
        from modelplane.monitoring.settings import parse_duration

        span = parse_duration(window, "window")
        until = datetime.now(UTC)
        home = self._store.settings.home
        return live_metrics(self._store, home, deployment, since=until - span, until=until)

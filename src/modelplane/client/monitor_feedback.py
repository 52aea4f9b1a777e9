"""Feedback and live metrics on a server."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import asdict, is_dataclass
from typing import TYPE_CHECKING, Any

from modelplane.client.http import Area, parse, quoted

if TYPE_CHECKING:
    from modelplane.monitoring.feedback import FeedbackItem, FeedbackResult
    from modelplane.monitoring.live import LiveMetrics


class Feedback(Area):
    def send(self, deployment: str, items: Sequence[Mapping[str, Any] | FeedbackItem]) -> FeedbackResult:
        from modelplane.monitoring.feedback import FeedbackResult

        body = {"items": [_plain(item) for item in items]}
        path = f"/api/v1/deployments/{quoted(deployment)}/feedback"
        return parse(FeedbackResult, self._http.json("POST", path, json=body))

    def live(self, deployment: str, *, window: str = "1h") -> builtins.list[LiveMetrics]:
        from modelplane.monitoring.live import LiveMetrics

        path = f"/api/v1/deployments/{quoted(deployment)}/live"
        return [parse(LiveMetrics, m) for m in self._http.json("GET", path, params={"window": window})]


def _plain(item: Any) -> Any:
    """A FeedbackItem as the JSON the API takes (its unset fields left out); anything else as given."""
    if is_dataclass(item) and not isinstance(item, type):
        return {k: v for k, v in asdict(item).items() if v is not None}
    return dict(item) if isinstance(item, Mapping) else item

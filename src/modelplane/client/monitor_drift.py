"""Drift computed by the server from its prediction log."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

from modelplane.client.http import Area, quoted

if TYPE_CHECKING:
    from modelplane.monitoring.drift import DriftReport


class Drift(Area):
    def compute(self, deployment: str, *, window: str = "1h") -> builtins.list[DriftReport]:
        from modelplane.monitoring.drift import DriftReport

        found = self._http.json(
            "GET", f"/api/v1/deployments/{quoted(deployment)}/drift", params={"window": window}
        )
        return [DriftReport.model_validate(item) for item in found["reports"]]

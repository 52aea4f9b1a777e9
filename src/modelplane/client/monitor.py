"""Monitor runs and their stored windows on a server."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

from modelplane.client.http import Area, parse, quoted

if TYPE_CHECKING:
    from modelplane.monitoring.windows import WindowInfo


class Monitor(Area):
    def run(self, deployment: str) -> builtins.list[WindowInfo]:
        from modelplane.monitoring.windows import WindowInfo

        found = self._http.json("POST", f"/api/v1/deployments/{quoted(deployment)}/monitor")
        return [parse(WindowInfo, item) for item in found["items"]]

    def windows(self, deployment: str, *, limit: int = 50) -> builtins.list[WindowInfo]:
        from modelplane.monitoring.windows import WindowInfo

        found = self._http.json(
            "GET", f"/api/v1/deployments/{quoted(deployment)}/windows", params={"limit": limit}
        )
        return [parse(WindowInfo, item) for item in found["items"]]

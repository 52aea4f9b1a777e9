"""Alert rules and their history on a server."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from modelplane.client.http import Area, parse, quoted

if TYPE_CHECKING:
    from modelplane.monitoring.alert_store import AlertEvent, AlertRuleInfo


class Alerts(Area):
    def add(self, deployment: str, when: str) -> AlertRuleInfo:
        from modelplane.monitoring.alert_store import AlertRuleInfo

        path = f"/api/v1/deployments/{quoted(deployment)}/alerts"
        return parse(AlertRuleInfo, self._http.json("POST", path, json={"when": when}))

    def rules(self, deployment: str | None = None) -> builtins.list[AlertRuleInfo]:
        from modelplane.monitoring.alert_store import AlertRuleInfo

        path = (
            "/api/v1/alert-rules"
            if deployment is None
            else f"/api/v1/deployments/{quoted(deployment)}/alerts"
        )
        return [parse(AlertRuleInfo, item) for item in self._http.items(path)]

    def remove(self, rule_id: int) -> None:
        self._http.call("DELETE", f"/api/v1/alert-rules/{int(rule_id)}")

    def history(self, deployment: str | None = None, *, limit: int = 50) -> builtins.list[AlertEvent]:
        from modelplane.monitoring.alert_store import AlertEvent

        params: dict[str, Any] = {"limit": limit, **({"deployment": deployment} if deployment else {})}
        return [parse(AlertEvent, item) for item in self._http.json("GET", "/api/v1/alerts", params=params)]

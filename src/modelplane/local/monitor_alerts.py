"""Alert rules and their history in-process (you hold the database: you act as yourself)."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

from modelplane.store import Store

if TYPE_CHECKING:
    from modelplane.monitoring.alert_store import AlertEvent, AlertRuleInfo


def _actor() -> str:
    from modelplane.provenance import current_user

    return current_user()


class Alerts:
    def __init__(self, store: Store) -> None:
        self._store = store

    def add(self, deployment: str, when: str) -> AlertRuleInfo:
        from modelplane.monitoring.alert_store import add_rule

        return add_rule(self._store, deployment, when, by=_actor())

    def rules(self, deployment: str | None = None) -> builtins.list[AlertRuleInfo]:
        from modelplane.monitoring.alert_store import list_rules

        return list_rules(self._store, deployment)

    def remove(self, rule_id: int) -> None:
        from modelplane.monitoring.alert_store import remove_rule

        remove_rule(self._store, rule_id, by=_actor())

    def history(self, deployment: str | None = None, *, limit: int = 50) -> builtins.list[AlertEvent]:
        from modelplane.monitoring.alert_store import alert_history

        return alert_history(self._store, deployment, limit=limit)

"""Monitor runs and their stored windows, in-process."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

from modelplane.store import Store

if TYPE_CHECKING:
    from modelplane.monitoring.windows import WindowInfo


class Monitor:
    def __init__(self, store: Store) -> None:
        self._store = store

    def run(self, deployment: str) -> builtins.list[WindowInfo]:
        from modelplane.monitoring.monitor import run_monitor

        return run_monitor(self._store, deployment)

    def windows(self, deployment: str, *, limit: int = 50) -> builtins.list[WindowInfo]:
        from modelplane.monitoring.windows import list_windows
        from modelplane.serving.deployments import get_deployment

        get_deployment(self._store, deployment)
        return list_windows(self._store, deployment, limit=limit)

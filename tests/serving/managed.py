"""A model manager over a store, started for one scenario and stopped after it, for in-process tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from modelplane.local import Local
from modelplane.serving.manager import ModelManager
from modelplane.serving.metrics import ServingMetrics

Scenario = Callable[[ModelManager], Coroutine[Any, Any, None]]


def with_manager(local: Local, scenario: Scenario, **options: Any) -> None:
    """Run `scenario` against a manager of `local`'s deployments (no polling; `options` go to it)."""

    async def main() -> None:
        manager = ModelManager(local.store, metrics=ServingMetrics(), poll_interval_s=0, **options)
        await manager.start()
        try:
            await scenario(manager)
        finally:
            await manager.stop()

    asyncio.run(main())

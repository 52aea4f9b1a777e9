"""While requests are refused for a full queue, the GIL is handed to the runtime's thread at once; the
process's own switch interval comes back once refusals stop."""

from __future__ import annotations

import asyncio
import sys

import pytest

from modelplane.serving import overload as module


def test_short_switches_hold_while_refusing_then_the_old_interval_returns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(module, "_HOLD_S", 0.05)
    policy = module._GilPolicy()
    before = sys.getswitchinterval()

    async def scenario() -> None:
        policy.refused()
        assert sys.getswitchinterval() == pytest.approx(module._OVERLOADED_SWITCH_S)
        await asyncio.sleep(0.03)
        policy.refused()  # still refusing: the hold starts again
        await asyncio.sleep(0.03)
        assert sys.getswitchinterval() == pytest.approx(module._OVERLOADED_SWITCH_S)
        await asyncio.sleep(0.1)
        assert sys.getswitchinterval() == pytest.approx(before)

    try:
        asyncio.run(scenario())
    finally:
        sys.setswitchinterval(before)

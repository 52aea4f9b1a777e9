"""Freed memory goes back to the system after large requests: trims run off the event loop, a few times."""

from __future__ import annotations

import asyncio
import threading

import pytest

from modelplane.serving import memory


def test_trims_run_in_a_worker_thread_after_a_large_request(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(memory, "_TRIM", lambda pad: calls.append(threading.current_thread().name) or 1)
    monkeypatch.setattr(memory, "_AFTER_S", 0.0)
    monkeypatch.setattr(memory, "_EVERY_S", 0.01)
    monkeypatch.setattr(memory, "_SETTLE_S", 0.05)

    async def scenario() -> None:
        returns = memory.MemoryReturn()
        returns.trim_soon()
        returns.trim_soon()  # while one is pending: no second schedule
        await asyncio.sleep(0.3)

    asyncio.run(scenario())
    assert 2 <= len(calls) <= 10  # once at once, then again while within the settle time, then no more
    assert threading.main_thread().name not in calls


def test_large_blocks_are_returned_on_glibc() -> None:
    memory.return_large_blocks()  # no error where mallopt exists; a no-op elsewhere

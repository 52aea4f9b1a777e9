"""While a deployment refuses requests, the runtime's thread gets the GIL back at once.

After each runtime call the batcher's thread needs the GIL for a moment to take the answer and start the
next batch. An overloaded event loop (refusing a flood of requests) holds the GIL almost all the time,
and CPython hands it over only every switch interval (5 ms by default): a runtime whose batch takes 1 ms
sat idle most of the time, and goodput fell to half of capacity at 4x overload (bench/overload.py).
A 20 microsecond interval keeps goodput near capacity then; but the same interval always on costs ~40 %
of the throughput of 1-row requests at 64 connections (the loop and the batcher's thread trade the GIL
far too often), so it holds only while requests are being refused, and for `_HOLD_S` after the last.
"""

from __future__ import annotations

import asyncio
import sys
import time

_OVERLOADED_SWITCH_S = 0.00002
_HOLD_S = 1.0


class _GilPolicy:
    def __init__(self) -> None:
        self._normal = sys.getswitchinterval()
        self._until = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def refused(self) -> None:
        """A request was refused for a full queue (called on the event loop)."""
        self._until = time.monotonic() + _HOLD_S
        if self._timer is None:
            self._normal = sys.getswitchinterval()
            sys.setswitchinterval(_OVERLOADED_SWITCH_S)
            self._timer = asyncio.get_running_loop().call_later(_HOLD_S, self._check)

    def _check(self) -> None:
        left = self._until - time.monotonic()
        if left > 0:
            self._timer = asyncio.get_running_loop().call_later(left, self._check)
            return
        self._timer = None
        sys.setswitchinterval(self._normal)


overload = _GilPolicy()

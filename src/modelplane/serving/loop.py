"""The event loop the servers run on: uvloop where installed (uvicorn[standard] brings it on Linux).

uvloop's faster socket and callback machinery raised throughput by ~5% on REST and ~25% on
gRPC in bench/serve.py; asyncio's own loop is the fallback so nothing depends on it.

`quick_gil_handoffs` shortens the GIL switch interval for a serving process: after each runtime call
the batcher's thread needs the GIL to hand the answer back, and while the event loop is busy (refusing
an overload, decoding bodies) it waited up to the default 5 ms each time, idling a runtime whose batch
takes 1 ms; under 16x overload that cost half the goodput (bench/overload.py).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

GIL_SWITCH_S = 0.0005


def quick_gil_handoffs() -> None:
    sys.setswitchinterval(GIL_SWITCH_S)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A fresh loop of the fastest kind available."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` on the fastest loop available."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)

"""The event loop the servers run on: uvloop where installed (uvicorn[standard] brings it on Linux).

uvloop's faster socket and callback machinery raised throughput by ~5% on REST and ~25% on
gRPC in bench/serve.py; asyncio's own loop is the fallback so nothing depends on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


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

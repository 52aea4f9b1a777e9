"""Giving memory back to the operating system after a large request.

glibc's malloc keeps freed memory for reuse: after one 50 MB request a server's RSS would stay hundreds
of MB above its idle size (an operator reads that as a leak, and a container limit counts it). After a
large request is answered, `trim_soon` asks glibc to return what is free (`malloc_trim`), once, in a
worker thread (ctypes lets the GIL go during the call), and not more often than `_EVERY_S`. Elsewhere
(musl, macOS) there is nothing to call and it does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

_EVERY_S = 0.5
_AFTER_S = 0.05  # let the answer's buffers go first


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_TRIM = _malloc_trim()


class MemoryReturn:
    """Debounced `malloc_trim(0)` after large requests, off the event loop."""

    def __init__(self) -> None:
        self._last = 0.0
        self._pending = False

    def trim_soon(self) -> None:
        if _TRIM is None or self._pending:
            return
        self._pending = True
        loop = asyncio.get_running_loop()
        wait = max(_AFTER_S, self._last + _EVERY_S - time.monotonic())
        loop.call_later(wait, self._start, loop)

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        future = loop.run_in_executor(None, self._trim)
        future.add_done_callback(lambda _: setattr(self, "_pending", False))

    def _trim(self) -> None:
        assert _TRIM is not None
        started = time.monotonic()
        _TRIM(0)
        self._last = time.monotonic()
        log.debug("returned freed memory to the system in %.1f ms", 1000 * (self._last - started))

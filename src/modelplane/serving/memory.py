"""Giving memory back to the operating system after a large request.

glibc's malloc keeps freed memory for reuse: after one 50 MB request a server's RSS would stay hundreds
of MB above its idle size (an operator reads that as a leak, and a container limit counts it). Two things
together give it back. `return_large_blocks` fixes glibc's mmap threshold at `_MMAP_THRESHOLD`: by default
the threshold rises to the largest block freed so far (up to 32 MB), after which the many-MB buffers of
the next large request come from the heaps of the threads that decode it, and stay there; fixed, every
block of a MB or more is its own mapping, unmapped when freed. And after a large request is answered,
`trim_soon` asks glibc to return what is free in the heaps (`malloc_trim`) in a worker thread (ctypes lets
the GIL go during the call), a few times over the next seconds. Elsewhere (musl, macOS) there is nothing
to call and it does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

_MMAP_THRESHOLD = 1 << 20
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h
_AFTER_S = 0.05  # let the answer's buffers go first
_EVERY_S = 1.0
_SETTLE_S = 2.0  # keep trimming this long after the last large request


def _glibc(function: str) -> Callable[..., int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        found: Callable[..., int] = getattr(ctypes.CDLL(name), function)
    except (OSError, AttributeError):  # not glibc
        return None
    return found


_TRIM = _glibc("malloc_trim")
_MALLOPT = _glibc("mallopt")


def return_large_blocks() -> None:
    """Make every freed block of `_MMAP_THRESHOLD` bytes or more go straight back to the system."""
    if _MALLOPT is not None and not _MALLOPT(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD):
        log.warning("mallopt(M_MMAP_THRESHOLD) failed; memory freed after large requests may stay mapped")


class MemoryReturn:
    """`malloc_trim(0)` after large requests, off the event loop: shortly after the answer, then once a
    second while large requests keep ending (an answer's buffers are freed only once it is sent)."""

    def __init__(self) -> None:
        self._pending = False
        self._last_request = 0.0

    def trim_soon(self) -> None:
        if _TRIM is None:
            return
        self._last_request = time.monotonic()
        if not self._pending:
            self._schedule(_AFTER_S)

    def _schedule(self, delay: float) -> None:
        self._pending = True
        loop = asyncio.get_running_loop()
        loop.call_later(delay, lambda: loop.run_in_executor(None, _trim).add_done_callback(self._done))

    def _done(self, _: object) -> None:
        self._pending = False
        if time.monotonic() - self._last_request < _SETTLE_S:
            self._schedule(_EVERY_S)


def _trim() -> None:
    assert _TRIM is not None
    started = time.monotonic()
    _TRIM(ctypes.c_size_t(0))
    log.debug("returned freed memory to the system in %.1f ms", 1000 * (time.monotonic() - started))


def trim_now() -> None:
    """Return what is free in the heaps at once (blocking for up to milliseconds: call it off the loop),
    e.g. after a model was dropped."""
    if _TRIM is not None:
        _trim()

"""Reading the next chunk while the runtime predicts this one.

Decoding a Parquet or CSV chunk into float32 rows is mostly Arrow and numpy work that releases the GIL,
so a reader thread overlaps it with ONNX Runtime's call on the chunk before (bench/batch.py has what that
saves). One chunk is read ahead, so memory holds at most two input chunks.

The thread starts when the reader is made, so a job makes it before it loads its model: the first chunk,
the slowest to read in a fresh process (its memory is touched for the first time), is read while the
model loads instead of after.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

from modelplane.jobs.batch.priority import give_way_to_the_runtime

T = TypeVar("T")
_DONE = object()


class _Failed:
    """The producer's error, on its way to the consumer."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class ReadAhead(Generic[T]):
    """Iterates `items` in order, producing the next one in a thread while the caller works on this one.
    The producer's errors are raised by the iteration, in order; `close` (also on leaving the loop
    early) stops the producer."""

    def __init__(self, items: Iterable[T]) -> None:
        self._items = items
        self._ready: queue.Queue[object] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name="batch-read-ahead", daemon=True)
        self._thread.start()

    def __iter__(self) -> Iterator[T]:
        try:
            while (item := self._ready.get()) is not _DONE:
                if isinstance(item, _Failed):
                    raise item.error
                yield item  # type: ignore[misc]
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def _produce(self) -> None:
        give_way_to_the_runtime()
        try:
            for item in self._items:
                if not self._put(item):
                    return
        except BaseException as error:  # handed to the consumer, which raises it in its own thread
            self._put(_Failed(error))
            return
        self._put(_DONE)

    def _put(self, item: object) -> bool:
        """Wait for room unless the consumer left; False when it did."""
        while not self._stop.is_set():
            try:
                self._ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

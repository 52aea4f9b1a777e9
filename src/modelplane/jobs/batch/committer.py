"""Committing predicted chunks in a thread while the runtime predicts the next one.

A chunk's predictions become a table, then a part file (durable: what a resumed attempt skips to), then the
next piece of the output, which so grows during the run instead of being assembled from the parts after
it. Table building, the part's fsync and Parquet encoding are mostly Arrow work that releases the GIL, so
they overlap ONNX Runtime's calls. A resumed attempt's thread first copies the parts earlier attempts
committed into its output, while the runtime already works on the first new chunk.

`on_commit` runs in the thread as soon as a part is on disk, so the checkpoint it records never names a
missing part and lags the work by no more than one chunk's write. What it raises (a cancel, a lost lease)
ends the thread and reaches the caller at its next call. At most `backlog` chunks wait for the thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa

from modelplane.jobs.batch.outputs import OutputFile, PartFiles
from modelplane.jobs.batch.priority import give_way_to_the_runtime

OnCommit = Callable[[int, int, int], None]  # chunk index, its rows, the rows committed with it


@dataclass(frozen=True)
class _Chunk:
    index: int
    make_table: Callable[[], pa.Table]
    rows_after: int


class ChunkCommitter:
    def __init__(
        self,
        parts: PartFiles,
        output: OutputFile,
        on_commit: OnCommit,
        *,
        earlier_chunks: int,
        backlog: int = 1,
    ) -> None:
        self.parts = parts
        self.output = output
        self._on_commit = on_commit
        self._earlier = earlier_chunks
        self._todo: queue.Queue[_Chunk | None] = queue.Queue(maxsize=backlog)  # None: no more
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="batch-commit", daemon=True)
        self._thread.start()

    def put(self, index: int, make_table: Callable[[], pa.Table], rows_after: int) -> None:
        """Queue chunk `index` (`rows_after`: the rows committed once it is); waits while the backlog is
        full. Raises what stopped the thread, if something did."""
        self._send(_Chunk(index, make_table, rows_after))

    def finish(self) -> None:
        """Wait until every queued chunk is committed and the output is closed (fsynced)."""
        self._send(None)
        self._thread.join()
        self._raise_error()

    def abandon(self) -> None:
        """Stop the thread without finishing; the output is closed and deleted."""
        self._stop.set()
        while True:  # make room so the thread's next get sees the end at once
            try:
                self._todo.get_nowait()
            except queue.Empty:
                break
        self._todo.put(None)
        self._thread.join()
        self.output.discard()

    def _send(self, item: _Chunk | None) -> None:
        while True:
            self._raise_error()  # a thread that stopped takes nothing more
            try:
                self._todo.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _work(self) -> None:
        give_way_to_the_runtime()
        try:
            for index in range(self._earlier):
                if self._stop.is_set():
                    return
                self.output.add(self.parts.read(index))
            while (chunk := self._todo.get()) is not None and not self._stop.is_set():
                table = chunk.make_table()
                self.parts.write(chunk.index, table)
                self._on_commit(chunk.index, table.num_rows, chunk.rows_after)
                self.output.add(table)
            if not self._stop.is_set():
                self.output.close()
        except BaseException as error:  # raised in the caller's thread by its next call
            self._error = error

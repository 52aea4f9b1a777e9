"""The prediction log writer: serving hands it each sampled request, a thread writes them to disk.

`submit` runs on the event loop for every logged request, so it only appends a tuple of references to a
queue bounded by rows; when the queue is full the record is dropped and counted
(`modelplane_prediction_log_dropped_total{deployment}`), never the request. A writer thread wakes every
`flush_s`, turns each deployment's pending records into one Arrow batch (`monitoring.log_rows`) and
appends it to that deployment's open segment (`monitoring.log_segments`), handing the bytes to the OS, so
a `kill -9` loses at most the last `flush_s`. Segments are sealed into Parquet when they grow past
`rotate_bytes`, get older than `rotate_s` or the UTC day changes; sealing runs on a thread of its own so a
large rewrite never holds up the next flush. A disk that is full or unwritable costs the rows of that
flush (counted as dropped, a warning at most once a minute), never serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from modelplane.monitoring.log_rows import (
    DEPLOYMENT_OF,
    ROWS_OF,
    Record,
    build_table,
    conform,
    utc_day,
    widen,
)
from modelplane.monitoring.log_segments import OpenSegment, enforce_retention, recover, seal
from modelplane.monitoring.settings import MonitoringSpec
from modelplane.tables.signature import TableSignature

log = logging.getLogger(__name__)

WARN_EVERY_S = 60.0
RETENTION_EVERY_S = 60.0


class PredictionLog:
    """One per serving process; `start` before the first `submit` (without it nothing is written until
    `flush` or `close`), `close` on shutdown (flushes and seals every open segment). `metrics` (a
    `ServingMetrics`) counts drops in Prometheus; `dropped` counts them here too, per deployment."""

    def __init__(
        self,
        home: Path,
        *,
        metrics: Any | None = None,
        queue_rows: int = 65_536,
        flush_s: float = 1.0,
        rotate_bytes: int = 64 * 2**20,
        rotate_s: float = 3600.0,
        retention_every_s: float = RETENTION_EVERY_S,
    ) -> None:
        self.home = Path(home)
        self.metrics = metrics
        self.queue_rows = queue_rows
        self.flush_s = flush_s
        self.rotate_bytes = rotate_bytes
        self.rotate_s = rotate_s
        self.retention_every_s = retention_every_s
        self.dropped: dict[str, int] = {}
        self._queue: deque[Record] = deque()
        self._submitted = 0  # rows queued, ever (written by the submitting thread only)
        self._taken = 0  # rows taken off the queue, ever (written under _lock only)
        self._specs: dict[str, MonitoringSpec] = {}
        self._segments: dict[str, OpenSegment] = {}
        self._written: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._sealer: ThreadPoolExecutor | None = None
        self._sealing: list[Future[None]] = []
        self._warned_at = -WARN_EVERY_S

    # lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> PredictionLog:
        """Seal what dead writers left (crash recovery), then start the writer thread."""
        try:
            recovered = recover(self.home, 2 * self.rotate_s)
        except OSError as exc:
            self._warn(f"cannot look for unsealed prediction log segments under {self.home}: {exc}")
            recovered = []
        if recovered:
            log.info("prediction log: sealed %d segment(s) left by a stopped server", len(recovered))
        _warm_up()
        self._sealer = ThreadPoolExecutor(1, thread_name_prefix="modelplane-log-seal")
        self._thread = threading.Thread(target=self._run, name="modelplane-prediction-log", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Write everything submitted, seal every open segment into Parquet, stop the threads."""
        if self._closed:
            return
        self._closed = self._stopping = True
        if self._thread is not None:
            self._wake.set()
            self._thread.join()
            self._thread = None
        self.flush()
        with self._lock:
            for deployment in list(self._segments):
                self._seal(deployment)
        if self._sealer is not None:
            self._sealer.shutdown(wait=True)
            self._sealer = None

    def configure(self, deployment: str, spec: MonitoringSpec) -> None:
        """The deployment's retention settings (the model manager calls it whenever a deployment is
        (re)loaded); a deployment never configured keeps the defaults."""
        self._specs[deployment] = spec

    # the hot path --------------------------------------------------------------------------------------
    def submit(
        self,
        deployment: str,
        version: str,
        request_id: str,
        key_id: str | None,
        latency_ms: float,
        status: int,
        x: np.ndarray | None,
        table: TableSignature | None,
        outputs: dict[str, np.ndarray],
        classes: Sequence[str],
    ) -> None:
        """Queue one request's record (references only); drop and count it when the queue is full. Call it
        from one thread (the event loop); `x` None is a failed request (one row, `status` != 200)."""
        rows = len(x) if x is not None else 1
        if self._submitted - self._taken + rows > self.queue_rows:
            self._drop(deployment, rows)
            return
        self._submitted += rows
        self._queue.append(
            Record(
                deployment,
                version,
                request_id,
                key_id,
                latency_ms,
                status,
                x,
                table,
                outputs,
                classes,
                time.time(),
                rows,
            )
        )

    @property
    def queued_rows(self) -> int:
        return self._submitted - self._taken

    # the writer ----------------------------------------------------------------------------------------
    def flush(self) -> None:
        """Write everything submitted so far and seal the segments due for it: when this returns, the rows
        are readable by `read_log` and no rotation is pending."""
        with self._lock:
            self._drain()
            self._rotate()
            sealing, self._sealing = self._sealing, []
        for future in sealing:
            future.result()

    def _run(self) -> None:
        next_retention = time.monotonic() + self.retention_every_s
        while not self._stopping:
            self._wake.wait(self.flush_s)
            self._wake.clear()
            try:
                with self._lock:
                    self._drain()
                    self._rotate()
                if time.monotonic() >= next_retention:
                    self._retention()
                    next_retention = time.monotonic() + self.retention_every_s
            except Exception:  # the log must outlive any one bad flush; serving never notices
                log.exception("prediction log writer: a flush failed; it keeps running")

    def _drain(self) -> None:
        queue = self._queue
        taken = [queue.popleft() for _ in range(len(queue))]
        if not taken:
            return
        self._taken += sum(map(ROWS_OF, taken))
        names = set(map(DEPLOYMENT_OF, taken))
        pending: dict[str, list[Record]] = {names.pop(): taken} if len(names) == 1 else {}
        if not pending:
            for record in taken:
                pending.setdefault(record.deployment, []).append(record)
        for deployment, records in pending.items():
            for chunk in _by_day(records):
                self._write(deployment, chunk)

    def _write(self, deployment: str, records: list[Record]) -> None:
        rows = sum(map(ROWS_OF, records))
        try:
            table = build_table(records)
        except Exception:  # a record this writer cannot turn into columns must not stop the log
            log.exception("prediction log: cannot build rows for %s; dropping %d rows", deployment, rows)
            self._drop(deployment, rows)
            return
        day = utc_day(records[0].time)
        segment = self._segments.get(deployment)
        try:
            if segment is not None and segment.day != day:
                self._seal(deployment)
                segment = None
            fitted = conform(table, segment.schema) if segment is not None else table
            if fitted is None:
                assert segment is not None
                schema = widen(segment.schema, table.schema)
                self._seal(deployment)
                segment = None
                fitted = conform(table, schema)
                assert fitted is not None
            if segment is None:
                segment = self._segments[deployment] = OpenSegment(self.home, deployment, day, fitted.schema)
            segment.append(fitted)
            self._written.add(deployment)
        except OSError as exc:
            self._drop(deployment, rows)
            self._warn(f"prediction log of {deployment} cannot be written ({exc}); dropping its rows")
            failed = self._segments.pop(deployment, None)
            if failed is not None:
                failed.abandon()

    def _rotate(self) -> None:
        now = time.monotonic()
        day = utc_day(time.time())
        for deployment, segment in list(self._segments.items()):
            old = now - segment.started >= self.rotate_s
            if old or segment.bytes >= self.rotate_bytes or segment.day != day:
                self._seal(deployment)

    def _seal(self, deployment: str) -> None:
        """Close the deployment's open segment now; its Parquet rewrite runs on the sealer thread."""
        segment = self._segments.pop(deployment, None)
        if segment is None:
            return
        try:
            segment.close_stream()
        except OSError as exc:
            self._warn(f"prediction log segment {segment.path} cannot be closed ({exc})")
            return
        if self._sealer is not None and not self._stopping:
            self._sealing = [f for f in self._sealing if not f.done()]
            self._sealing.append(self._sealer.submit(self._seal_file, segment.path))
        else:
            self._seal_file(segment.path)

    def _seal_file(self, path: Path) -> None:
        try:
            seal(path)
        except (OSError, pa.ArrowException) as exc:  # the stream stays; the next start seals it
            self._warn(f"prediction log segment {path} cannot be sealed into Parquet ({exc})")

    def _retention(self) -> None:
        for deployment in set(self._written) | set(self._specs):
            spec = self._specs.get(deployment) or MonitoringSpec()
            try:
                freed = enforce_retention(self.home, deployment, spec.retain_days, spec.retain_bytes)
            except OSError as exc:
                self._warn(f"prediction log retention of {deployment} failed: {exc}")
                continue
            if freed:
                log.info("prediction log of %s: retention freed %d bytes", deployment, freed)

    # accounting ----------------------------------------------------------------------------------------
    def _drop(self, deployment: str, rows: int) -> None:
        self.dropped[deployment] = self.dropped.get(deployment, 0) + rows
        if self.metrics is not None:
            self.metrics.observe_log_dropped(deployment, rows)

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_S:
            self._warned_at = now
            log.warning("%s (serving continues; this warning repeats at most once a minute)", message)


def _warm_up() -> None:
    """Build and stream one record now: the lazy imports of the Arrow writer code happen here, at start,
    not inside the first flush while serving (where they would hold the GIL for a quarter second)."""
    x = np.zeros((1, 1), np.float32)
    record = Record("", "", "", None, 0.0, 200, x, None, {"prediction": np.zeros(1)}, [], 0.0, 1)
    table = build_table([record])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)


def _by_day(records: list[Record]) -> list[list[Record]]:
    """Records split where the UTC day changes (they arrive in time order), so each lands in its day."""
    if utc_day(records[0].time) == utc_day(records[-1].time):
        return [records]
    chunks: list[list[Record]] = []
    current = ""
    for record in records:
        day = utc_day(record.time)
        if day != current:
            chunks.append([])
            current = day
        chunks[-1].append(record)
    return chunks

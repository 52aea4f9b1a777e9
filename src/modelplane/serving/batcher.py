"""Dynamic batching in front of one runtime: concurrent requests share one `predict` call.

Policy (no idle tax, like Triton's dynamic batcher without its fixed delay):

* A request that finds a free runtime slot and nobody waiting is dispatched at once. Without load
  (nobody queued or computing for a while, see `CONTENDED_SECONDS`), a small request of a cheap model
  is computed right on the event loop (`INLINE_ROWS`, `INLINE_SECONDS`): at c=1 the hand-off to an
  executor thread and back cost more than such a call. Otherwise it goes to an executor thread. A
  request submitted in the same turn of the loop as an inline one is company (a burst of connections
  read together), and so are requests that arrive while a probe (`PROBE_EVERY`) is in the executor.
* Requests that arrive while the runtime is busy queue up; when a slot frees they go as the next batch
  (FIFO, at most `max_batch_size` rows). If that batch is already
  full it goes at once. If it is partial, it may wait for more rows *while rows keep arriving*: it goes
  when no row arrived for twice the usual gap between arrivals (a moving average), and never later
  than `max_queue_delay_ms` after the slot freed. When arrivals are sparser than the delay allows, it
  does not wait at all. So a burst (c=64, or a front end returning 64 answers and reading 64 new
  requests) is merged into large batches, while light load is not delayed for rows that will not come.

A request larger than `max_batch_size` is computed in chunks of that size, one batch at a time, and the
requests that fit a batch go first: each batch takes the waiting small requests (FIFO), then fills the
rest with the next rows of the oldest large request (which then moves behind any other large one). So a
1-row request waits at most one chunk's compute behind a 200,000-row request, the runtime never sees a
batch larger than `max_batch_size` (its memory stays bounded), and a large request alone still runs at
full batches back to back.

Requests that left (timed out, cancelled) before their batch started are dropped from it, and a large
request that left stops being computed at its next chunk: nobody computes for them. Only requests
with the same trailing shape and dtype share a batch, so one odd request cannot fail the others.

When a batch finishes and a full batch is already waiting, the executor thread takes it and runs it
at once, without waiting for the event loop: under overload the loop is busy refusing requests, and a
runtime that waited for the loop's next turn (milliseconds at 64 connections) between 1 ms batches
served a fraction of its capacity. Only partial batches go back to the loop, whose gathering policy
decides when they go. The queue and its counters are shared with the executor threads under a lock.

A batcher binds to the event loop of its first `submit` and must only be used from that loop;
`predict` runs in executor threads (ONNX Runtime releases the GIL), and on the loop only for the lone
small requests above: inference never blocks the loop for more than about `INLINE_SECONDS`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

import numpy as np

from modelplane.errors import DeadlineExceeded, Invalid, ModelplaneError, Unavailable
from modelplane.serving.metrics import ServingMetrics, default_metrics
from modelplane.serving.overload import overload
from modelplane.serving.statistics import VersionStatistics

log = logging.getLogger(__name__)

Outputs = dict[str, np.ndarray]
Timed = tuple[list[Outputs], float, float, float]  # outputs per request; compute, join, split seconds
_EWMA = 0.2  # weight of the newest sample in the moving averages (arrival gaps, compute time)
# A lone request runs on the event loop only when it has at most INLINE_ROWS rows and such small batches
# have taken at most INLINE_SECONDS to compute (a moving average, first learnt in the executor): so the loop
# is never blocked longer than that by inference, and any larger batch runs in an executor thread.
INLINE_ROWS = 16
INLINE_SECONDS = 0.0002
_NO_WAIT = (0.0,)
# Load is seen when a request finds others queued or computing, or finds that an inline request ran in the
# same turn of the event loop (requests read together); for CONTENDED_SECONDS after that, every request
# goes through the executor, where concurrent ones share batches. Requests that trickle in one per turn
# (gRPC's server hands them over so) overlap nothing inline, so a lone request takes the executor path
# now and then as a probe: whoever arrives while it computes reveals the load. The first probe comes after
# PROBE_EVERY lone requests, and each probe that finds nobody doubles the interval up to PROBE_MAX: the
# thread hand-off of a probe costs about as much as several inline calls, and at c=1 it slowed the median
# request too (V2 p50 1.29x the lean server's against 1.07x with probes off: medians of 4 alternating runs).
CONTENDED_SECONDS = 0.05
PROBE_EVERY = 8
PROBE_MAX = 256


class _Pending:
    """One submitted request: its rows, its caller's future, and where it stands."""

    __slots__ = (
        "chunked",
        "done",
        "dropped",
        "enqueued",
        "future",
        "parts",
        "rows",
        "sent",
        "started",
        "timer",
        "x",
    )

    def __init__(
        self, x: np.ndarray, future: asyncio.Future[Outputs], enqueued: float, *, chunked: bool
    ) -> None:
        self.x = x
        self.rows = len(x)
        self.chunked = chunked
        self.future = future
        self.enqueued = enqueued
        self.started = False
        self.dropped = False
        self.timer: asyncio.TimerHandle | None = None
        self.sent = 0  # rows handed to batches (a chunked request's next chunk starts here)
        self.done = 0  # rows computed
        self.parts: list[tuple[int, Outputs]] = []  # a chunked request's computed chunks, by first row


Chunk = tuple[_Pending, int, int]  # a request and the rows [start, stop) of it that a batch computes


class DynamicBatcher:
    """Merges concurrent `submit`s into `predict` calls; see the module docstring for the policy.

    `queue_depth` counts requests waiting (not rows); `in_flight` counts requests inside batches the
    runtime is computing; `statistics` holds the Triton-style counts (see `serving.statistics`).
    """

    def __init__(
        self,
        predict: Callable[[np.ndarray], Outputs],
        *,
        max_batch_size: int = 64,
        max_queue_delay_ms: float = 2.0,
        max_queue_size: int = 1024,
        timeout_s: float = 30.0,
        max_concurrent_batches: int = 1,
        executor: concurrent.futures.Executor | None = None,
        labels: tuple[str, str] = ("", ""),
        metrics: ServingMetrics | None = None,
        inline: bool = True,
    ) -> None:
        if max_batch_size < 1 or max_queue_size < 1 or max_concurrent_batches < 1:
            raise Invalid("max_batch_size, max_queue_size and max_concurrent_batches must be at least 1")
        if max_queue_delay_ms < 0 or timeout_s <= 0:
            raise Invalid("max_queue_delay_ms must be >= 0 and timeout_s > 0")
        self._predict = predict
        self._max_rows = max_batch_size
        self._max_delay = max_queue_delay_ms / 1000
        self._max_queue = max_queue_size
        self._timeout = timeout_s
        self._slots = max_concurrent_batches
        self._owns_executor = executor is None
        self._executor = executor or concurrent.futures.ThreadPoolExecutor(
            max_concurrent_batches, thread_name_prefix=f"batcher-{labels[0]}@{labels[1]}"
        )
        self._labels = labels
        self._metrics = metrics if metrics is not None else default_metrics()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()  # the queues and counters, shared with the executor threads
        self._queue: deque[_Pending] = deque()  # requests that fit one batch
        self._large: deque[_Pending] = deque()  # larger requests, computed a chunk at a time
        self._waiting = 0  # live requests in the queue
        self._waiting_rows = 0
        self._running = 0  # batches in predict
        self._in_flight = 0  # requests in those batches
        self._last_arrival = 0.0
        self._gap = self._max_delay  # moving average of inter-arrival gaps; starts at "too sparse to wait"
        self._compute = 0.001  # moving average of batch compute seconds, for retry_after
        self._inline = inline  # False where `predict` waits on another process: it must never block the loop
        self._small = 2 * INLINE_SECONDS  # moving average for batches of <= INLINE_ROWS rows; learnt first
        self._lone = 0  # lone requests (idle and uncontended batcher) since the last probe
        self._probe_every = PROBE_EVERY  # lone requests between probes; doubles while probes find nobody
        self._inline_turn = False  # an inline request ran in this turn of the loop (cleared by call_soon)
        self._contended_until = 0.0  # loop time until which requests batch (company was seen recently)
        self._gather_deadline: float | None = None  # set while a partial batch waits for more rows
        self._timer: asyncio.TimerHandle | None = None
        self._draining = False
        self._drained: asyncio.Future[None] | None = None
        self.statistics = VersionStatistics()

    @property
    def queue_depth(self) -> int:
        return self._waiting

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def submit(self, x: np.ndarray, *, timeout_s: float | None = None) -> Outputs:
        """Predict `x` (n >= 1 rows) as part of a batch; returns exactly this request's rows of every output.

        Raises Unavailable (queue full or shutting down), DeadlineExceeded (no answer within the
        timeout), or ModelplaneError (the runtime failed on this request's batch).
        """
        self.check_room()
        loop = self._bind()
        if x.ndim < 1 or len(x) < 1:
            raise Invalid(f"a request needs at least one row, got an array of shape {x.shape}")
        now = loop.time()
        self._gap += _EWMA * (min(now - self._last_arrival, self._max_delay) - self._gap)
        self._last_arrival = now
        if self._inline_turn or not self._idle():  # this request has company: batching pays for a while
            self._contended_until = now + CONTENDED_SECONDS
            self._probe_every = PROBE_EVERY
        elif (
            self._inline
            and len(x) <= INLINE_ROWS
            and self._small <= INLINE_SECONDS
            and now >= self._contended_until
        ):
            self._lone += 1
            if self._lone < self._probe_every:
                self._inline_turn = True
                loop.call_soon(self._end_turn)
                return self._run_inline(x)
            # A probe: through the executor, to see who arrives meanwhile (company resets the interval).
            self._lone = 0
            self._probe_every = min(2 * self._probe_every, PROBE_MAX)
        pending = _Pending(x, loop.create_future(), time.monotonic(), chunked=len(x) > self._max_rows)
        timeout = self._timeout if timeout_s is None else timeout_s
        pending.timer = loop.call_at(now + timeout, self._expire, pending, timeout)
        with self._lock:
            (self._large if pending.chunked else self._queue).append(pending)
            self._waiting += 1
            self._waiting_rows += pending.rows
            gathering = self._gather_deadline is not None
            go = self._running < self._slots and (not gathering or self._waiting_rows >= self._max_rows)
        if go:
            self._pump(gather=gathering)
        self._report()
        try:
            return await pending.future
        except asyncio.CancelledError:
            self._abandon(pending)
            raise

    def _idle(self) -> bool:
        """Nothing queued or computing, a slot free, not draining: a request now would go at once."""
        return not self._waiting and not self._running and self._slots > 0 and not self._draining

    def _end_turn(self) -> None:
        self._inline_turn = False

    def _run_inline(self, x: np.ndarray) -> Outputs:
        """Compute a small request on the event loop: at c=1 the two thread hand-offs cost more than a
        cheap model's call (see `INLINE_SECONDS`). Counted and timed as a batch of one request."""
        enqueued = time.monotonic()
        self._running += 1
        self._in_flight += 1
        started = time.perf_counter()
        try:
            outputs = self._predict(x)
        except Exception as error:
            self.statistics.fail_count += 1
            self.statistics.fail_s += time.monotonic() - enqueued
            self._log_failure(len(x), 1, error)
            raise self._batch_error(error)  # noqa: B904  # the wrapper's __cause__ is the error
        finally:
            self._running -= 1
            self._in_flight -= 1
        seconds = time.perf_counter() - started
        self._computed(len(x), _NO_WAIT, (seconds, 0.0, 0.0), 1, len(x), time.monotonic() - enqueued)
        if self._drained is not None:
            self._check_drained()
        return outputs

    @property
    def slots(self) -> int:
        return self._slots

    def set_slots(self, slots: int) -> None:
        """How many batches may run at once from now on (replicas come and go; 0 holds every request until
        one comes). At most the `max_concurrent_batches` given at construction. On the batcher's loop."""
        with self._lock:
            self._slots = slots
        if self._loop is not None and slots:
            self._pump(gather=False)

    def check_room(self) -> None:
        """Unavailable (with retry_after) when a request submitted now would be refused."""
        if self._draining:
            raise Unavailable(f"{self._name} is shutting down; retry", retry_after=0.1)
        if self._waiting >= self._max_queue:
            overload.refused()
            raise Unavailable(
                f"{self._name} has {self._waiting} requests queued (max_queue_size); retry later",
                retry_after=self._retry_after(),
            )

    async def drain(self) -> None:
        """Refuse new requests (Unavailable) and return once everything queued or running is answered."""
        self._draining = True
        if self._loop is None:
            return
        if self._drained is None:
            self._drained = self._loop.create_future()
            self._pump(gather=False)
            self._check_drained()
        await asyncio.shield(self._drained)

    async def close(self) -> None:
        """Drain, then release the executor threads this batcher started."""
        await self.drain()
        if self._owns_executor:
            self._executor.shutdown(wait=False)  # idle by now; its threads exit on their own

    @property
    def _name(self) -> str:
        return f"{self._labels[0]}@{self._labels[1]}"

    def _bind(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise RuntimeError(f"the batcher for {self._name} is bound to another event loop")
        return loop

    def _retry_after(self) -> float:
        """Seconds until the current queue has likely been computed."""
        return round(max(0.01, math.ceil(self._waiting_rows / self._max_rows) * self._compute), 3)

    def _pump(self, *, gather: bool) -> None:
        """Dispatch while a slot is free and the next batch should go now; else wait via the gather timer."""
        assert self._loop is not None
        self._cancel_timer()
        with self._lock:
            while self._waiting and self._running < self._slots:
                if gather and not self._draining and self._waiting_rows < self._max_rows:
                    until = self._gather_until(self._loop.time())
                    if until is not None:
                        self._timer = self._loop.call_at(until, self._on_timer)
                        return
                self._dispatch()
                gather = True  # a second free slot is not "idle": the next batch may gather
            self._gather_deadline = None

    def _gather_until(self, now: float) -> float | None:
        """When a partial batch should stop waiting for more rows, or None to send it now."""
        if self._gather_deadline is None:
            self._gather_deadline = now + self._max_delay
        if self._last_arrival + self._gap >= self._gather_deadline:
            return None  # arrivals too sparse: the next one would likely miss the deadline anyway
        until = min(self._gather_deadline, self._last_arrival + 2 * self._gap)
        return until if until > now else None

    def _on_timer(self) -> None:
        self._timer = None
        self._pump(gather=True)
        self._report()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _take_batch(self) -> list[Chunk]:
        """The FIFO prefix of waiting requests that fits `max_batch_size` rows, then the next rows of the
        oldest large request to fill it; everything in a batch shares one row shape and dtype."""
        batch: list[Chunk] = []
        rows = 0
        first: np.ndarray | None = None
        while self._queue and rows < self._max_rows:
            head = self._queue[0]
            full = first is not None and rows + head.rows > self._max_rows
            if not head.dropped and first is not None and (full or not _alike(head.x, first)):
                break
            self._queue.popleft()
            if head.dropped:
                continue
            batch.append(self._take(head, head.rows))
            rows += head.rows
            first = head.x if first is None else first
        while self._large and rows < self._max_rows:
            head = self._large.popleft()
            if head.dropped:
                continue
            if first is not None and not _alike(head.x, first):
                self._large.appendleft(head)
                break
            take = min(self._max_rows - rows, head.rows - head.sent)
            batch.append(self._take(head, take))
            rows += take
            first = head.x if first is None else first
            if head.sent < head.rows:
                self._large.append(head)  # its next chunk goes behind other large requests
        return batch

    def _take(self, pending: _Pending, rows: int) -> Chunk:
        start = pending.sent
        pending.sent += rows
        pending.started = True
        self._waiting_rows -= rows
        if pending.sent == pending.rows:
            self._waiting -= 1
        return pending, start, pending.sent

    def _dispatch(self) -> None:
        """Under the lock: take the next batch into a free slot and start an executor thread on it."""
        assert self._loop is not None
        batch = self._take_batch()
        self._gather_deadline = None
        self._running += 1
        self._in_flight += len(batch)
        try:
            self._executor.submit(self._work, self._loop, batch)
        except RuntimeError as error:  # a caller's executor was shut down under us: fail this batch
            self._loop.call_soon(self._finish, batch, _queued(batch), error, True)

    def _work(self, loop: asyncio.AbstractEventLoop, batch: list[Chunk]) -> None:
        """In an executor thread: run the batch, post its outcome to the loop (one wake-up fewer than
        run_in_executor), and go on with the next batch while a full one is waiting."""
        while True:
            queued = _queued(batch)
            outcome: Timed | Exception
            try:
                outcome = _run(
                    self._predict,
                    [p.x if p.rows == stop - start else p.x[start:stop] for p, start, stop in batch],
                )
            except Exception as error:  # any runtime failure goes to this batch's callers, on the loop
                outcome = error
            with self._lock:
                follow: list[Chunk] | None = None
                # After a failure the loop goes first: it drops what is left of the failed requests.
                full = self._waiting and self._waiting_rows >= self._max_rows
                if (
                    full
                    and self._running <= self._slots
                    and not self._draining
                    and not isinstance(outcome, Exception)
                ):
                    follow = self._take_batch()
                    self._in_flight += len(follow)
            # Without a follow-up the slot goes back to the loop, in `_finish`: until then requests that
            # arrive queue up (and go together), as they would while the batch ran.
            loop.call_soon_threadsafe(self._finish, batch, queued, outcome, follow is None)
            if follow is None:
                return
            batch = follow

    def _finish(
        self,
        batch: list[Chunk],
        queued: list[float],
        outcome: Timed | Exception,
        released: bool,
    ) -> None:
        """On the loop: answer the batch's callers; `released`: its slot is free for the loop to fill."""
        with self._lock:
            self._in_flight -= len(batch)
            if released:
                self._running -= 1
        if isinstance(outcome, Exception):
            self._log_failure(sum(stop - start for _, start, stop in batch), len(batch), outcome)
            stats = self.statistics
            now = time.monotonic()
            for pending, _, _ in batch:
                if not pending.future.done():
                    stats.fail_count += 1
                    stats.fail_s += now - pending.enqueued
                self._settle(pending, self._batch_error(outcome))
                self._abandon(pending)  # a large request's remaining chunks are not computed
        else:
            parts, seconds, joining, splitting = outcome
            now = time.monotonic()
            answered = answered_rows = 0
            answered_s = 0.0
            for (pending, start, stop), part in zip(batch, parts, strict=True):
                if pending.chunked:
                    pending.parts.append((start, part))
                    pending.done += stop - start
                    if pending.done < pending.rows:
                        continue
                    part = _joined(pending.parts)
                if not pending.future.done():
                    answered += 1
                    answered_rows += pending.rows
                    answered_s += now - pending.enqueued
                self._settle(pending, part)
            rows = sum(stop - start for _, start, stop in batch)
            self._computed(rows, queued, (seconds, joining, splitting), answered, answered_rows, answered_s)
        if released:
            self._pump(gather=True)
        self._report()
        self._check_drained()

    def _computed(
        self,
        rows: int,
        queued: Sequence[float],
        timed: tuple[float, float, float],
        answered: int,
        answered_rows: int,
        answered_s: float,
    ) -> None:
        """Count a runtime call that succeeded (`timed`: compute, join, split seconds): the moving averages,
        the metrics, and the Triton-style statistics of the requests it answered."""
        seconds, joining, splitting = timed
        self._compute += _EWMA * (seconds - self._compute)
        if rows <= INLINE_ROWS:
            self._small += _EWMA * (seconds - self._small)
        self._metrics.observe_batch(*self._labels, rows, queued, seconds)
        stats = self.statistics
        stats.success_count += answered
        stats.success_s += answered_s
        stats.inference_count += answered_rows
        stats.queue_count += len(queued)
        stats.queue_s += sum(queued)
        stats.execution_count += 1
        stats.compute_input_s += joining
        stats.compute_infer_s += seconds
        stats.compute_output_s += splitting
        stats.last_inference = time.time()

    def _log_failure(self, rows: int, requests: int, error: Exception) -> None:
        """Log a runtime failure; a typed error (a bad request, a timeout) is an answer, not a fault."""
        if not isinstance(error, ModelplaneError):
            log.error(
                "inference failed for %s (batch of %d rows, %d requests): %s: %s",
                self._name,
                rows,
                requests,
                type(error).__name__,
                error,
            )

    def _batch_error(self, error: Exception) -> Exception:
        """Typed errors (e.g. Invalid from the runtime's shape check) pass through; others become a 500."""
        if isinstance(error, ModelplaneError):
            return error
        wrapped = ModelplaneError(f"inference failed for {self._name}: {type(error).__name__}: {error}")
        wrapped.__cause__ = error
        return wrapped

    @staticmethod
    def _settle(pending: _Pending, outcome: Outputs | BaseException) -> None:
        if pending.timer is not None:
            pending.timer.cancel()
        if pending.future.done():  # timed out or cancelled while its batch ran
            return
        if isinstance(outcome, BaseException):
            pending.future.set_exception(outcome)
        else:
            pending.future.set_result(outcome)

    def _expire(self, pending: _Pending, timeout: float) -> None:
        if not pending.future.done():
            self.statistics.fail_count += 1
            self.statistics.fail_s += time.monotonic() - pending.enqueued
            where = "while running" if pending.started else "in the queue"
            pending.future.set_exception(
                DeadlineExceeded(f"{self._name} did not answer within {timeout:g} s (timed out {where})")
            )
        self._abandon(pending)

    def _abandon(self, pending: _Pending) -> None:
        """The caller left (or its request failed): take its remaining rows out of the queue so no batch
        computes them."""
        if pending.timer is not None:
            pending.timer.cancel()
        with self._lock:
            if pending.dropped or pending.sent == pending.rows:
                return
            pending.dropped = True
            pending.parts.clear()
            self._waiting -= 1
            self._waiting_rows -= pending.rows - pending.sent
            if not self._waiting:  # nothing left to gather for: the next arrival finds the runtime idle
                self._cancel_timer()
                self._gather_deadline = None
            if len(self._queue) > 2 * self._max_queue:  # many left while the runtime is stuck: compact
                self._queue = deque(p for p in self._queue if not p.dropped)
            if pending.chunked:
                self._large = deque(p for p in self._large if not p.dropped)
        self._report()
        self._check_drained()

    def _report(self) -> None:
        self._metrics.set_queue(*self._labels, self._waiting, self._in_flight)

    def _check_drained(self) -> None:
        drained = self._drained
        idle = not self._waiting and not self._running and not self._in_flight
        if drained is not None and not drained.done() and idle:
            drained.set_result(None)


def _queued(batch: list[Chunk]) -> list[float]:
    """Seconds each request of a batch waited before its first rows went to the runtime."""
    now = time.monotonic()
    return [now - p.enqueued for p, start, _ in batch if start == 0]


def _alike(x: np.ndarray, other: np.ndarray) -> bool:
    """Whether two requests' rows can share one runtime call."""
    return x.shape[1:] == other.shape[1:] and x.dtype == other.dtype


def _joined(parts: list[tuple[int, Outputs]]) -> Outputs:
    """A chunked request's outputs, its chunks in row order."""
    parts.sort(key=lambda part: part[0])
    names = parts[0][1]
    return {name: np.concatenate([part[name] for _, part in parts]) for name in names}


def _run(predict: Callable[[np.ndarray], Outputs], xs: list[np.ndarray]) -> Timed:
    """In an executor thread: one runtime call on the concatenated rows, split back per request."""
    joined = time.perf_counter()
    x = xs[0] if len(xs) == 1 else np.concatenate(xs)
    started = time.perf_counter()
    outputs = predict(x)
    finished = time.perf_counter()
    if len(xs) == 1:
        return [outputs], finished - started, started - joined, 0.0
    for name, value in outputs.items():
        if value.ndim == 0 or len(value) != len(x):
            raise ValueError(
                f"the runtime returned output {name!r} with shape {value.shape} for a batch of {len(x)} rows"
            )
    parts: list[Outputs] = []
    start = 0
    for part in xs:
        stop = start + len(part)
        parts.append({name: value[start:stop] for name, value in outputs.items()})
        start = stop
    return parts, finished - started, started - joined, time.perf_counter() - finished

"""The dynamic batcher on a real event loop with real executor threads.

A gated fake `predict` holds the runtime busy until the test releases it, so which requests share a
batch is decided by events, not by timing.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from modelplane.errors import DeadlineExceeded, Invalid, ModelplaneError, Unavailable
from modelplane.runtimes.onnx_runtime import OnnxRuntime
from modelplane.serving import batcher as batcher_module
from modelplane.serving.batcher import INLINE_ROWS, INLINE_SECONDS, PROBE_EVERY, DynamicBatcher
from modelplane.serving.metrics import ServingMetrics
from tests.serving.fakes import FEATURES, tiny_classifier_onnx

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], limit_s: float = 10.0) -> T:
    """Run a test coroutine on a fresh loop; a hung test fails instead of blocking the suite."""
    return asyncio.run(asyncio.wait_for(coro, limit_s))


class Fake:
    """Row-wise deterministic predict that records its batches; while `gate` is closed it blocks."""

    def __init__(self, *, gated: bool = False) -> None:
        self.batches: list[np.ndarray] = []
        self.gate = threading.Event()
        if not gated:
            self.gate.set()
        self.entered = threading.Event()

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        self.batches.append(x.copy())
        self.entered.set()
        assert self.gate.wait(5), "the test never opened the gate"
        if (x < 0).any():
            raise ValueError("negative input")
        return {"double": x * 2, "total": x.reshape(len(x), -1).sum(axis=1)}

    @property
    def sizes(self) -> list[int]:
        return [len(b) for b in self.batches]

    async def running(self) -> None:
        """Wait until predict has been entered (the runtime is busy)."""
        assert await asyncio.to_thread(self.entered.wait, 5)


def batcher(predict: Any, **kwargs: Any) -> DynamicBatcher:
    kwargs.setdefault("metrics", ServingMetrics(CollectorRegistry()))
    kwargs.setdefault("labels", ("dep", "1"))
    return DynamicBatcher(predict, **kwargs)


def rows(n: int, start: float = 0.0, width: int = FEATURES) -> np.ndarray:
    return (np.arange(n * width, dtype=np.float32).reshape(n, width) + start) / 7


def test_concurrent_submits_are_merged_and_each_caller_gets_its_rows() -> None:
    fake = Fake(gated=True)
    b = batcher(fake)
    inputs = [rows(1, start=i * 10) for i in range(32)]

    async def main() -> list[dict[str, np.ndarray]]:
        tasks = [asyncio.create_task(b.submit(x)) for x in inputs]
        await fake.running()
        await asyncio.sleep(0)  # let every task reach the queue
        assert b.queue_depth == 31 and b.in_flight == 1
        fake.gate.set()
        results = await asyncio.gather(*tasks)
        await b.close()
        return results

    results = run(main())
    assert len(fake.batches) < 32 and max(fake.sizes) > 1 and sum(fake.sizes) == 32
    reference = Fake()
    for x, got in zip(inputs, results, strict=True):
        want = reference(x)
        assert got.keys() == want.keys()
        for name in want:
            assert got[name].shape == want[name].shape
            assert got[name].tobytes() == want[name].tobytes()


def test_real_onnx_model_through_the_batcher(tmp_path: Path) -> None:
    runtime = OnnxRuntime(tiny_classifier_onnx(tmp_path / "tiny.onnx"), threads=1)
    calls: list[int] = []

    def predict(x: np.ndarray) -> dict[str, np.ndarray]:
        calls.append(len(x))
        return runtime.predict(x)

    b = batcher(predict)
    inputs = [rows(1 + i % 3, start=i) for i in range(24)]

    async def main() -> list[dict[str, np.ndarray]]:
        results = await asyncio.gather(*(b.submit(x) for x in inputs))
        await b.close()
        return results

    results = run(main())
    assert sum(calls) == sum(len(x) for x in inputs) and len(calls) < len(inputs)
    for x, got in zip(inputs, results, strict=True):
        want = runtime.predict(x)
        np.testing.assert_array_equal(got["label"], want["label"])
        np.testing.assert_allclose(got["probabilities"], want["probabilities"], rtol=1e-6, atol=1e-7)


def test_an_idle_request_is_dispatched_at_once() -> None:
    fake = Fake()
    b = batcher(fake, max_queue_delay_ms=200)

    async def main() -> list[float]:
        latencies = []
        await asyncio.gather(*(b.submit(rows(1)) for _ in range(16)))  # warm up, and teach it a burst
        for _ in range(5):  # c=1: each request finds the runtime idle
            started = time.perf_counter()
            await b.submit(rows(1))
            latencies.append(time.perf_counter() - started)
        await b.close()
        return latencies

    latencies = run(main())
    assert max(latencies) < 0.05, latencies  # far below the 200 ms the batch could have waited


def test_a_partial_batch_gathers_rows_that_keep_arriving() -> None:
    """Behind a busy runtime, rows arriving right after it frees join the waiting batch."""
    fake = Fake(gated=True)
    b = batcher(fake, max_batch_size=2, max_queue_delay_ms=1000)

    async def main() -> None:
        first = asyncio.create_task(b.submit(rows(1)))
        await fake.running()
        second = asyncio.create_task(b.submit(rows(1, start=1)))
        await asyncio.sleep(0)
        fake.gate.set()
        await first
        assert b.queue_depth == 1  # the runtime is free, yet the partial batch waits for more rows
        started = time.perf_counter()
        await asyncio.gather(second, b.submit(rows(1, start=2)))  # fills the batch: it goes at once
        assert time.perf_counter() - started < 0.5
        await b.close()

    run(main())
    assert fake.sizes == [1, 2]


def test_a_partial_batch_waits_no_longer_than_max_queue_delay() -> None:
    fake = Fake(gated=True)
    b = batcher(fake, max_queue_delay_ms=100)

    async def main() -> float:
        first = asyncio.create_task(b.submit(rows(1)))
        await fake.running()
        second = asyncio.create_task(b.submit(rows(1, start=1)))
        await asyncio.sleep(0)
        fake.gate.set()
        await first
        started = time.perf_counter()
        await second  # nothing else arrives: it goes when the delay runs out, if not before
        waited = time.perf_counter() - started
        await b.close()
        return waited

    assert run(main()) < 0.5
    assert fake.sizes == [1, 1]


def test_max_batch_size_is_respected_and_a_larger_request_is_computed_in_chunks() -> None:
    fake = Fake(gated=True)
    b = batcher(fake, max_batch_size=4)
    inputs = [rows(1 + i % 3, start=i) for i in range(12)]
    big = rows(10, start=100)

    async def main() -> dict[str, np.ndarray]:
        tasks = [asyncio.create_task(b.submit(x)) for x in inputs]
        await fake.running()
        await asyncio.sleep(0)
        fake.gate.set()
        results = await asyncio.gather(*tasks)
        for x, got in zip(inputs, results, strict=True):
            assert got["double"].tobytes() == (x * 2).tobytes()
        out = await b.submit(big)
        await b.close()
        return out

    out = run(main())
    assert fake.sizes[-3:] == [4, 4, 2] and all(size <= 4 for size in fake.sizes)
    assert sum(fake.sizes[:-3]) == sum(len(x) for x in inputs)
    assert out["double"].tobytes() == (big * 2).tobytes()
    assert out["total"].tobytes() == big.sum(axis=1).tobytes()


class Stepper:
    """A predict that computes one batch per `step()`, so a test decides when each chunk finishes."""

    def __init__(self) -> None:
        self.batches: list[np.ndarray] = []
        self._steps = threading.Semaphore(0)
        self._entered = threading.Semaphore(0)

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        self.batches.append(x.copy())
        self._entered.release()
        assert self._steps.acquire(timeout=5), "the test never let this batch finish"
        if (x < 0).any():
            raise ValueError("negative input")
        return {"double": x * 2}

    async def entered(self) -> None:
        """Wait until the next batch is inside predict."""
        assert await asyncio.to_thread(self._entered.acquire, True, 5)

    def step(self) -> None:
        self._steps.release()


def test_a_small_request_goes_in_the_next_batch_while_a_large_one_is_chunked() -> None:
    stepper = Stepper()
    b = batcher(stepper, max_batch_size=4)
    big = rows(12, start=100)
    small = rows(1, start=1)

    async def main() -> None:
        large = asyncio.create_task(b.submit(big))
        await stepper.entered()  # the first chunk computes
        quick = asyncio.create_task(b.submit(small))
        await asyncio.sleep(0)
        stepper.step()
        await stepper.entered()  # the next batch: the small request first, then 3 more rows of the large one
        stepper.step()
        assert (await quick)["double"].tobytes() == (small * 2).tobytes()
        assert not large.done()
        for _ in range(2):  # rows 7..10, then 11
            await stepper.entered()
            stepper.step()
        assert (await large)["double"].tobytes() == (big * 2).tobytes()
        await b.close()

    run(main())
    assert [len(x) for x in stepper.batches] == [4, 4, 4, 1]
    assert stepper.batches[1][:1].tobytes() == small.tobytes()
    assert stepper.batches[1][1:].tobytes() == big[4:7].tobytes()


def test_a_large_request_that_left_or_failed_is_not_computed_further() -> None:
    stepper = Stepper()
    b = batcher(stepper, max_batch_size=2)
    bad = rows(6, start=1)
    bad[3, 0] = -1  # its second chunk fails

    async def main() -> None:
        gone = asyncio.create_task(b.submit(rows(8, start=100)))
        await stepper.entered()
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone  # its remaining rows leave the queue now, while its first chunk still runs
        stepper.step()
        failing = asyncio.create_task(b.submit(bad))
        await stepper.entered()
        stepper.step()
        await stepper.entered()
        stepper.step()
        with pytest.raises(ModelplaneError, match="negative input"):
            await failing
        assert b.queue_depth == 0
        await b.close()

    run(main())
    assert [len(x) for x in stepper.batches] == [2, 2, 2]


def test_different_row_shapes_do_not_share_a_batch() -> None:
    fake = Fake(gated=True)
    b = batcher(fake)

    async def main() -> None:
        first = asyncio.create_task(b.submit(rows(1)))
        await fake.running()
        narrow = asyncio.create_task(b.submit(rows(2, width=3)))
        wide = asyncio.create_task(b.submit(rows(1, width=5)))
        await asyncio.sleep(0)
        fake.gate.set()
        await first
        assert (await narrow)["total"].shape == (2,)
        assert (await wide)["double"].shape == (1, 5)
        await b.close()

    run(main())
    assert fake.sizes == [1, 2, 1]


def test_a_full_queue_refuses_at_once_with_retry_after() -> None:
    fake = Fake(gated=True)
    b = batcher(fake, max_queue_size=2)

    async def main() -> None:
        running = asyncio.create_task(b.submit(rows(1)))
        await fake.running()
        queued = [asyncio.create_task(b.submit(rows(1))) for _ in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(Unavailable) as refused:
            await b.submit(rows(1))
        assert refused.value.retry_after > 0 and "max_queue_size" in str(refused.value)
        fake.gate.set()
        await asyncio.gather(running, *queued)
        await b.submit(rows(1))  # room again
        await b.close()

    run(main())


def test_full_batches_keep_the_runtime_busy_while_the_event_loop_is_not() -> None:
    fake = Fake(gated=True)
    b = batcher(fake, max_batch_size=2)
    inputs = [rows(2, start=i) for i in range(6)]

    async def main() -> None:
        tasks = [asyncio.create_task(b.submit(x)) for x in inputs]
        await fake.running()  # the first batch is in the runtime, the other five queued
        fake.gate.set()
        deadline = time.monotonic() + 5
        while len(fake.batches) < len(inputs) and time.monotonic() < deadline:
            time.sleep(0.01)  # the loop is blocked (as when it is busy refusing an overload)
        assert len(fake.batches) == len(inputs), "batches waited for the event loop"
        for x, got in zip(inputs, await asyncio.gather(*tasks), strict=True):
            assert got["double"].tobytes() == (x * 2).tobytes()
        await b.close()

    run(main())


def test_check_room_refuses_before_a_request_is_made() -> None:
    fake = Fake(gated=True)
    b = batcher(fake, max_queue_size=1)

    async def main() -> None:
        running = asyncio.create_task(b.submit(rows(1)))
        await fake.running()
        b.check_room()  # the running request is not queued
        queued = asyncio.create_task(b.submit(rows(1)))
        await asyncio.sleep(0)
        with pytest.raises(Unavailable, match="queued") as refused:
            b.check_room()
        assert refused.value.retry_after > 0
        fake.gate.set()
        await asyncio.gather(running, queued)
        await b.close()

    run(main())


def test_timeout_and_cancellation_drop_rows_not_yet_started() -> None:
    fake = Fake(gated=True)
    b = batcher(fake)
    slow = rows(1, start=1)
    left = rows(1, start=2)
    stays = rows(1, start=3)

    async def main() -> None:
        running = asyncio.create_task(b.submit(slow, timeout_s=0.05))  # times out while running
        await fake.running()
        gone = asyncio.create_task(b.submit(left))
        kept = asyncio.create_task(b.submit(stays))
        with pytest.raises(DeadlineExceeded, match="queue"):
            await b.submit(rows(1, start=4), timeout_s=0.05)
        with pytest.raises(DeadlineExceeded, match="running"):
            await running
        gone.cancel()
        await asyncio.sleep(0)
        assert b.queue_depth == 1
        fake.gate.set()
        assert (await kept)["double"].tobytes() == (stays * 2).tobytes()
        await b.close()

    run(main())
    computed = np.concatenate(fake.batches)
    assert computed.tobytes() == np.concatenate([slow, stays]).tobytes()


def test_a_failing_batch_fails_only_its_requests(caplog: pytest.LogCaptureFixture) -> None:
    fake = Fake(gated=True)
    b = batcher(fake)

    async def main() -> None:
        ok = asyncio.create_task(b.submit(rows(1)))
        await fake.running()
        poisoned = asyncio.create_task(b.submit(-rows(1, start=1)))
        neighbour = asyncio.create_task(b.submit(rows(1)))
        await asyncio.sleep(0)
        fake.gate.set()
        await ok
        for task in (poisoned, neighbour):
            with pytest.raises(
                ModelplaneError, match=r"inference failed for dep@1: ValueError: negative input"
            ):
                await task
        after = rows(2, start=5)
        assert (await b.submit(after))["double"].tobytes() == (after * 2).tobytes()
        await b.close()

    with caplog.at_level(logging.ERROR, logger="modelplane.serving.batcher"):
        run(main())
    assert fake.sizes == [1, 2, 2]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "dep@1" in errors[0].getMessage()


def test_drain_finishes_queued_work_and_refuses_new() -> None:
    fake = Fake(gated=True)
    b = batcher(fake)

    async def main() -> None:
        tasks = [asyncio.create_task(b.submit(rows(1, start=i))) for i in range(3)]
        await fake.running()
        await asyncio.sleep(0)
        draining = asyncio.create_task(b.close())
        await asyncio.sleep(0)
        with pytest.raises(Unavailable, match="shutting down"):
            await b.submit(rows(1))
        assert not draining.done()
        fake.gate.set()
        await draining
        assert all(t.done() and not t.exception() for t in tasks)

    run(main())
    assert sum(fake.sizes) == 3


def test_the_event_loop_keeps_running_while_predict_runs() -> None:
    def slow(x: np.ndarray) -> dict[str, np.ndarray]:
        time.sleep(0.2)  # stands in for a long inference in the executor thread
        return {"y": x}

    b = batcher(slow)

    async def main() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticking = asyncio.create_task(ticker())
        await b.submit(rows(1))
        ticking.cancel()
        await b.close()
        return ticks

    assert run(main()) >= 5


def test_requests_need_rows_and_one_event_loop() -> None:
    b = batcher(Fake())

    async def first() -> None:
        with pytest.raises(Invalid, match="at least one row"):
            await b.submit(np.zeros((0, FEATURES), np.float32))
        await b.submit(rows(1))

    async def other_loop() -> None:
        with pytest.raises(RuntimeError, match="another event loop"):
            await b.submit(rows(1))

    run(first())
    run(other_loop())


def test_batches_are_recorded_in_metrics() -> None:
    fake = Fake(gated=True)
    metrics = ServingMetrics(CollectorRegistry())
    b = batcher(fake, metrics=metrics, labels=("digits", "3"))

    async def main() -> None:
        tasks = [asyncio.create_task(b.submit(rows(1))) for _ in range(5)]
        await fake.running()
        await asyncio.sleep(0)
        assert (
            metrics.registry.get_sample_value(
                "modelplane_queue_depth", {"deployment": "digits", "version": "3"}
            )
            == 4
        )
        fake.gate.set()
        await asyncio.gather(*tasks)
        await b.close()

    run(main())
    labels = {"deployment": "digits", "version": "3"}
    sample = metrics.registry.get_sample_value
    assert sample("modelplane_batch_size_count", labels) == 2
    assert sample("modelplane_batch_size_sum", labels) == 5
    assert sample("modelplane_queue_seconds_count", labels) == 5
    assert sample("modelplane_compute_seconds_count", labels) == 2
    assert sample("modelplane_queue_depth", labels) == 0
    assert sample("modelplane_in_flight", labels) == 0


class Threads:
    """A cheap row-wise predict that records which thread ran each call (optionally slow)."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.calls: list[tuple[str, int]] = []

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        if self.seconds:
            time.sleep(self.seconds)
        if (x < 0).any():
            raise ValueError("negative input")
        self.calls.append((threading.current_thread().name, len(x)))
        return {"double": x * 2}

    def on_loop(self, loop_thread: str) -> list[int]:
        """The row counts of the calls made on the event loop's thread."""
        return [n for name, n in self.calls if name == loop_thread]


async def _one_at_a_time(b: DynamicBatcher, n: int, size: int = 1) -> None:
    """`n` requests of `size` rows, each sent once the previous one is answered (c=1): in a later turn of
    the loop, as a client's round trip makes it."""
    for i in range(n):
        got = await b.submit(rows(size, start=i))
        np.testing.assert_array_equal(got["double"], rows(size, start=i) * 2)
        await asyncio.sleep(0)


def test_lone_small_requests_of_a_cheap_model_run_on_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    # "Cheap" is a measured moving average: a CI machine that stalls a few calls must not make it dear.
    monkeypatch.setattr(batcher_module, "INLINE_SECONDS", 0.05)
    predict = Threads()
    metrics = ServingMetrics(CollectorRegistry())
    b = batcher(predict, metrics=metrics)
    loop_thread = threading.current_thread().name

    async def main() -> None:
        await _one_at_a_time(b, 8 * PROBE_EVERY)  # the first calls run in the executor: they teach its cost
        await b.close()

    run(main())
    inline = predict.on_loop(loop_thread)
    # After learning, all but the probes (one lone request in PROBE_EVERY) skip the thread hand-off.
    assert len(inline) >= 5 * PROBE_EVERY, predict.calls
    assert len(predict.calls) - len(inline) <= 3 + 8, predict.calls
    labels = {"deployment": "dep", "version": "1"}
    assert metrics.registry.get_sample_value("modelplane_batch_size_count", labels) == 8 * PROBE_EVERY
    assert b.statistics.success_count == b.statistics.inference_count == 8 * PROBE_EVERY


def test_under_load_requests_batch_in_the_executor_instead(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batcher_module, "CONTENDED_SECONDS", 30.0)  # a slow CI machine keeps "right after"
    predict = Threads()
    b = batcher(predict)
    loop_thread = threading.current_thread().name

    async def main() -> None:
        await _one_at_a_time(b, 4 * PROBE_EVERY)
        calls = len(predict.calls)
        inputs = [rows(1, start=i) for i in range(64)]
        results = await asyncio.gather(*(b.submit(x) for x in inputs))  # c=64
        for x, got in zip(inputs, results, strict=True):
            np.testing.assert_array_equal(got["double"], x * 2)
        burst = predict.calls[calls:]
        assert max(n for _, n in burst) > 1, burst  # the load was seen: requests shared batches
        assert len(burst) < 32, burst
        calls = len(predict.calls)
        await b.submit(rows(1))  # right after the load a lone request still goes to the executor
        assert predict.calls[calls][0] != loop_thread
        await b.close()

    run(main())


def test_probes_back_off_while_nobody_comes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batcher_module, "INLINE_SECONDS", 0.05)
    predict = Threads()
    b = batcher(predict)
    loop_thread = threading.current_thread().name

    async def main() -> None:
        await _one_at_a_time(b, 8 * PROBE_EVERY)  # learns the cost, then runs inline
        learnt = len(predict.calls)
        await _one_at_a_time(b, 32 * PROBE_EVERY)
        probes = [call for call in predict.calls[learnt:] if call[0] != loop_thread]
        # With a probe every PROBE_EVERY lone requests there would be 32; doubling leaves a handful.
        assert 1 <= len(probes) <= 6, predict.calls[learnt:]
        await b.close()

    run(main())


def test_a_burst_read_in_one_loop_turn_batches_without_waiting_for_a_probe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(batcher_module, "INLINE_SECONDS", 0.05)
    monkeypatch.setattr(batcher_module, "PROBE_EVERY", 10**9)  # no probe will come
    predict = Threads()
    b = batcher(predict)
    loop_thread = threading.current_thread().name

    async def main() -> None:
        b._small = 0.0  # as if learnt: lone requests run inline from the first
        await _one_at_a_time(b, 5)
        assert len(predict.on_loop(loop_thread)) == 5, predict.calls
        calls = len(predict.calls)
        inputs = [rows(1, start=i) for i in range(32)]
        results = await asyncio.gather(*(b.submit(x) for x in inputs))  # 32 requests in one turn
        for x, got in zip(inputs, results, strict=True):
            np.testing.assert_array_equal(got["double"], x * 2)
        burst = predict.calls[calls:]
        assert burst[0][0] == loop_thread  # the first of them found nobody
        assert max(n for _, n in burst) > 1, burst  # the rest were company, and shared batches
        assert len(burst) <= 4, burst
        await b.close()

    run(main())


@pytest.mark.parametrize("case", ["slow model", "many rows", "replica set"])
def test_slow_calls_large_requests_and_replicas_never_run_on_the_loop(case: str) -> None:
    predict = Threads(seconds=5 * INLINE_SECONDS if case == "slow model" else 0.0)
    b = batcher(predict, inline=case != "replica set")
    loop_thread = threading.current_thread().name
    size = INLINE_ROWS + 1 if case == "many rows" else 1

    async def main() -> None:
        await _one_at_a_time(b, 3 * PROBE_EVERY, size)
        await b.close()

    run(main())
    assert predict.on_loop(loop_thread) == [], predict.calls


def test_a_failure_on_the_loop_fails_only_its_request(caplog: pytest.LogCaptureFixture) -> None:
    predict = Threads()
    b = batcher(predict)

    async def main() -> None:
        await _one_at_a_time(b, 2 * PROBE_EVERY)
        failures = 0
        for i in range(PROBE_EVERY):  # some run on the loop, one is a probe: both fail alike
            with pytest.raises(ModelplaneError, match="ValueError: negative input"):
                await b.submit(-rows(1, start=i + 1))
            failures += 1
        await _one_at_a_time(b, 2)  # and the batcher goes on answering
        await b.close()
        assert b.statistics.fail_count == failures

    with caplog.at_level(logging.ERROR):
        run(main())
    assert "negative input" in caplog.text

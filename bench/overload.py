"""Issue #17 items 1-3 in one run, on the digits CNN served by `modelplane serve` (REST):

1. memory: one ~50 MB JSON body to /v1/predict (203,212 rows of 64 numbers), then three at once: the
   server's peak RSS growth against the body size (target <= 4x), and its RSS 5 s after the answer
   against the RSS before (target within 10 %);
2. head-of-line blocking: 1-row requests while a 200,000-row request is in flight: their p99 against
   50 ms + one chunk's compute (a 64-row request's median at idle stands for the chunk);
3. overload: a deployment with --max-queue-size 4 loaded with 64-row requests at its best concurrency
   (its capacity), then at 4x and 16x that concurrency: goodput (200s per second) against 80 % of the
   capacity, and the p99 time to a 503 (target <= 5 ms).

    .venv/bin/python bench/overload.py [--seconds 5]
Needs Debian's nghttp2-client (h2load, which logs every request's status and duration).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).parent))
from serve import Proc, free_port, h2load_run, rss_mb, table, wait_http

BIG_ROWS = 203_212
HOL_ROWS = 200_000


def prepare(home: Path) -> np.ndarray:
    """The digits CNN, deployed twice: `cnn` (room for the large requests) and `cnn-q4` (queue of 4)."""
    from sklearn.datasets import load_digits

    import modelplane

    local = modelplane.Local(home)
    local.datasets.add("digits", source="builtin:digits")
    local.train(data="digits", model="cnn", train={"epochs": 1})
    local.deploy({"model": "digits-cnn@1", "limits": {"max_request_rows": 250_000}}, name="cnn")
    local.deploy({"model": "digits-cnn@1", "batching": {"max_queue_size": 4}}, name="cnn-q4")
    local.close()
    return np.asarray(load_digits().data, dtype=np.float32)


def body_of(digits: np.ndarray, rows: int) -> bytes:
    """A /v1 body the way a Python client writes one (json.dumps-style spacing, digits' small integers)."""
    matrix = np.resize(digits, (rows, digits.shape[1]))
    return orjson.dumps({"instances": matrix.tolist()})


class PeakRss:
    """Samples a process's RSS every few milliseconds in a thread; `peak` is the largest seen."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = rss_mb(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_mb(self.pid))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def post_all(url: str, bodies: list[bytes]) -> list[int]:
    """POST each body from a thread of its own, all at once; their statuses."""
    statuses = [0] * len(bodies)

    def one(i: int) -> None:
        response = httpx.post(
            url, content=bodies[i], headers={"content-type": "application/json"}, timeout=300
        )
        statuses[i] = response.status_code

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def settle_rss(pid: int, seconds: float) -> float:
    time.sleep(seconds)
    return rss_mb(pid)


def memory(base: str, pid: int, digits: np.ndarray) -> list[list[Any]]:
    url = f"{base}/v1/predict/cnn"
    post_all(url, [body_of(digits, 20_000)] * 3)  # warm: the decoding threads, Arrow's, first allocations
    settle_rss(pid, 2)
    big = body_of(digits, BIG_ROWS)
    size = len(big) / 2**20
    rows = []
    for count in (1, 3):
        before = settle_rss(pid, 1)
        with PeakRss(pid) as peak:
            statuses = post_all(url, [big] * count)
        after = settle_rss(pid, 5)
        growth = peak.peak - before
        back = (after - before) / before
        ok = set(statuses) == {200} and growth <= 4 * size * count and back <= 0.10
        rows.append(
            [
                f"{count} x {size:.0f} MB body",
                before,
                peak.peak,
                f"{growth / (size * count):.2f}x",
                after,
                f"{100 * back:+.1f} %",
                "growth <= 4x body, +5 s within 10 %",
                "PASS" if ok else f"FAIL {statuses}",
            ]
        )
    return rows


def percentiles(samples: list[float]) -> tuple[float, float]:
    p50, p99 = np.percentile(np.asarray(samples) * 1000, [50, 99])
    return float(p50), float(p99)


def latencies(client: httpx.Client, url: str, body: bytes, count: int) -> list[float]:
    out = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.post(url, content=body, headers={"content-type": "application/json"})
        out.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
    return out


def head_of_line(base: str, digits: np.ndarray) -> list[list[Any]]:
    url = f"{base}/v1/predict/cnn"
    one, chunk = body_of(digits, 1), body_of(digits, 64)
    with httpx.Client(timeout=60) as client:
        idle_one = percentiles(latencies(client, url, one, 200))
        idle_chunk = percentiles(latencies(client, url, chunk, 100))
        big = body_of(digits, HOL_ROWS)
        done = threading.Event()
        result: dict[str, Any] = {}

        def large() -> None:
            started = time.perf_counter()
            response = httpx.post(url, content=big, headers={"content-type": "application/json"}, timeout=300)
            result["status"], result["seconds"] = response.status_code, time.perf_counter() - started
            done.set()

        thread = threading.Thread(target=large)
        thread.start()
        time.sleep(0.05)
        during: list[float] = []
        while not done.is_set():
            during.extend(latencies(client, url, one, 1))
        thread.join()
    busy = percentiles(during)
    bound = 50 + idle_chunk[0]
    return [
        ["1-row, idle", *idle_one, "-", "-"],
        ["64-row (one chunk), idle", *idle_chunk, "-", "-"],
        [
            f"1-row, during a {HOL_ROWS:,}-row request ({result['seconds']:.1f} s, HTTP {result['status']}); "
            f"{len(during)} requests",
            *busy,
            f"p99 <= {bound:.0f} ms",
            "PASS" if busy[1] <= bound and result["status"] == 200 else "FAIL",
        ],
    ]


def h2load(url: str, body: bytes, concurrency: int, seconds: float) -> dict[str, float]:
    """Goodput and the 503s' latency from h2load's per-request log."""
    _, lines = h2load_run(url, body, concurrency, seconds, {"content-type": "application/json"}, h1=True)
    ok = [ms for status, ms in lines if status == "200"]
    refused = [ms for status, ms in lines if status == "503"]
    other = len(lines) - len(ok) - len(refused)
    return {
        "goodput": len(ok) / seconds,
        "refused": len(refused),
        "refusal_p99": float(np.percentile(refused, 99)) if refused else float("nan"),
        "other": other,
    }


def overload(base: str, digits: np.ndarray, seconds: float) -> list[list[Any]]:
    url = f"{base}/v1/predict/cnn-q4"
    body = body_of(digits, 64)
    capacity: dict[int, dict[str, float]] = {c: h2load(url, body, c, seconds) for c in (1, 2, 4)}
    best = max(capacity, key=lambda c: capacity[c]["goodput"])
    rows: list[list[Any]] = [
        [f"c={c}", r["goodput"], r["refused"], r["refusal_p99"], "-", "capacity" if c == best else "-"]
        for c, r in capacity.items()
    ]
    peak = capacity[best]["goodput"]
    for factor in (4, 16):
        r = h2load(url, body, best * factor, seconds)
        share = r["goodput"] / peak
        ok = share >= 0.8 and (r["refused"] == 0 or r["refusal_p99"] <= 5) and r["other"] == 0
        rows.append(
            [
                f"c={best * factor} ({factor}x overload)",
                r["goodput"],
                r["refused"],
                r["refusal_p99"],
                f"{100 * share:.0f} % of capacity",
                "PASS" if ok else f"FAIL ({int(r['other'])} other statuses)" if r["other"] else "FAIL",
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each overload run")
    args = parser.parse_args()
    if shutil.which("h2load") is None:
        sys.exit("bench/overload.py needs h2load: apt-get install nghttp2-client")
    home = Path(tempfile.mkdtemp(prefix="mp-bench-overload-"))
    digits = prepare(home)
    port = free_port()
    server = Proc(
        [sys.executable, "-m", "modelplane.cli.main", "serve", "--port", str(port), "--grpc-port", "-1"],
        {"MODELPLANE_HOME": str(home)},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for name in ("cnn", "cnn-q4"):
            wait_http(f"{base}/v2/models/{name}/ready")
        pid = server.popen.pid
        table(
            "1. memory: server RSS around large /v1/predict bodies (MB)",
            ["requests", "before", "peak", "growth / body", "+5 s idle", "vs before", "target", "result"],
            memory(base, pid, digits),
        )
        table(
            "2. head-of-line blocking: latency of 1-row requests (ms)",
            ["requests", "p50 ms", "p99 ms", "target", "result"],
            head_of_line(base, digits),
        )
        table(
            "3. overload: 64-row requests to a deployment with --max-queue-size 4 (h2load --h1)",
            ["load", "goodput (200/s)", "503s", "503 p99 ms", "goodput share", "result"],
            overload(base, digits, args.seconds),
        )
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Issue #18 item 4: emitting events costs nothing measurable on the request path.

One `modelplane up` serves the digits MLP. Each round measures, once with no webhooks and once with three
registered (two live receivers in this process, one dead URL: a closed port), alternating so the drift of a
shared machine hits both alike:
- V2 infer throughput (req/s) from a Python load generator (threads, keep-alive), while an admin moves an
  alias 10 times a second in the background (so events flow during the load);
- the latency of an alias move (a control-plane write that emits an event), sequential.
Events are a projection of the audit ledger (written by the change anyway); the dispatcher fans out and
sends off the request path, so both ratios should be ~1.0 (within noise).

    .venv/bin/python bench/events.py [--seconds 4] [--rounds 3] [--threads 8]
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from serve import table  # bench/serve.py
from up import prepare, start_up  # bench/up.py

from modelplane.client import Client


@contextmanager
def receiver() -> Iterator[tuple[str, list[int]]]:
    """A live webhook endpoint answering 204; yields its URL and a one-item list counting what it got."""
    got = [0]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            got[0] += 1
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    finally:
        server.shutdown()
        server.server_close()


def dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/hook"


def infer_rps(url: str, body: bytes, headers: dict[str, str], threads: int, seconds: float) -> float:
    done = [0] * threads
    deadline = time.perf_counter() + seconds

    def worker(i: int) -> None:
        with httpx.Client(headers=headers, timeout=10) as http:
            while time.perf_counter() < deadline:
                http.post(url, content=body).raise_for_status()
                done[i] += 1

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return sum(done) / (time.perf_counter() - started)


@contextmanager
def alias_churn(admin: Client, per_s: float) -> Iterator[None]:
    stop = threading.Event()

    def churn() -> None:
        n = 0
        while not stop.wait(1 / per_s):
            admin.models.alias("digits-mlp@1", f"churn{n % 3}")
            n += 1

    thread = threading.Thread(target=churn, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def alias_latency_ms(admin: Client, moves: int) -> list[float]:
    times = []
    for n in range(moves):
        started = time.perf_counter()
        admin.models.alias("digits-mlp@1", f"timed{n % 2}")
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=4.0, help="duration of each load run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of both modes")
    parser.add_argument("--threads", type=int, default=8, help="load generator threads")
    parser.add_argument("--moves", type=int, default=40, help="timed alias moves per round")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="mp-bench-events-"))
    row = np.random.default_rng(0).random(64).round(4).tolist()
    body = json.dumps(
        {"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": row}]}
    ).encode()
    results: dict[str, dict[str, list[float]]] = {
        m: {"rps": [], "p50": [], "p95": []} for m in ("none", "three")
    }
    try:
        prepare(home)
        proc, base, key = start_up(home)
        if key is None:
            sys.exit("modelplane up printed no admin key")
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        infer = f"{base}/v2/models/digits-mlp/infer"
        admin = Client(base, key)
        try:
            with receiver() as (one, got_one), receiver() as (two, got_two):
                infer_rps(infer, body, headers, args.threads, 1.0)  # warm up
                for _ in range(args.rounds):
                    for mode in ("none", "three"):
                        hooks = []
                        if mode == "three":
                            hooks = [admin.webhooks.add(url).info.id for url in (one, two, dead_url())]
                        with alias_churn(admin, 10.0):
                            results[mode]["rps"].append(
                                infer_rps(infer, body, headers, args.threads, args.seconds)
                            )
                        times = alias_latency_ms(admin, args.moves)
                        results[mode]["p50"].append(statistics.median(times))
                        results[mode]["p95"].append(float(np.percentile(times, 95)))
                        for hook in hooks:
                            admin.webhooks.remove(hook)
                delivered = got_one[0] + got_two[0]
        finally:
            admin.close()
            proc.stop()
    finally:
        shutil.rmtree(home, ignore_errors=True)

    rows: list[list[Any]] = []
    labels = {"rps": "V2 infer req/s", "p50": "alias move p50 (ms)", "p95": "alias move p95 (ms)"}
    for stat, label in labels.items():
        none, three = results["none"][stat], results["three"][stat]
        ratios = [t / n for t, n in zip(three, none, strict=True)]
        rows.append(
            [
                label,
                float(statistics.median(none)),
                float(statistics.median(three)),
                f"{statistics.median(ratios):.3f}",
            ]
        )
    table(
        f"digits MLP via `modelplane up`, {args.threads} load threads + 10 alias moves/s, "
        f"{args.rounds} alternating rounds (medians)",
        ["measure", "no webhooks", "3 webhooks (1 dead)", "ratio (with / without)"],
        rows,
    )
    print(f"deliveries received by the two live webhooks: {delivered}")


if __name__ == "__main__":
    main()

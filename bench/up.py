"""Issue #4 targets in one run, one table: what auth + rate limit + metering cost the data plane
(the same `modelplane up`, `--no-auth` against a consumer key with a generous rate limit, wrk at c=64 and
c=1 on the digits MLP), and `audit verify` on 100,000 entries. The `make run` time to the first
prediction is printed by the demo itself (`make run` on a fresh clone).

    .venv/bin/python bench/up.py [--seconds 5]   (not platform.py: that name would shadow the stdlib module)
Needs Debian's `wrk`.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from audit import TARGET_S, fill  # bench/audit.py
from serve import Proc, free_port, table, wait_http, wrk  # bench/serve.py

KEY = re.compile(r"mp_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


def prepare(home: Path) -> None:
    import modelplane

    local = modelplane.Local(home)
    local.datasets.add("digits", source="builtin:digits")
    local.train(data="digits", model="mlp", train={"seed": 1})
    local.deploy({"model": "digits-mlp@1"})
    local.close()


def start_up(home: Path, *extra: str) -> tuple[Proc, str, str | None]:
    port = free_port()
    log = home / f"up-{port}.log"
    args = [
        sys.executable,
        "-m",
        "modelplane.cli.main",
        "up",
        "--port",
        str(port),
        "--grpc-port",
        "-1",
        *extra,
    ]
    with log.open("w") as out:
        proc = Proc(args, {"MODELPLANE_HOME": str(home)}, stdout=out)
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/v2/health/ready")
    found = KEY.search(log.read_text())
    return proc, base, found.group(0) if found else None


def consumer_key(home: Path) -> str:
    import modelplane

    local = modelplane.Local(home)
    created = local.keys.create(role="consumer", name="bench", deployments=["digits-mlp"], rate="100000/s")
    local.close()
    return str(created.key)


def audit_verify_seconds(entries: int) -> tuple[float, bool]:
    from modelplane.security import audit
    from modelplane.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'audit.db'}", Path(tmp) / "artifacts")
        try:
            fill(store, entries)
            started = time.perf_counter()
            result = audit.verify(store)
            return time.perf_counter() - started, result.ok and result.entries == entries
        finally:
            store.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each load run")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/platform.py needs wrk: apt-get install wrk")
    home = Path(tempfile.mkdtemp(prefix="mp-bench-platform-"))
    row = [round(v, 4) for v in np.random.default_rng(0).random(64).tolist()]
    body = json.dumps({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": row}]})
    results: dict[str, dict[int, dict[str, float]]] = {}
    try:
        prepare(home)
        key = consumer_key(home)
        for mode, extra, headers in (
            ("no auth", ("--no-auth",), {}),
            ("consumer key", (), {"Authorization": f"Bearer {key}"}),
        ):
            proc, base, _ = start_up(home, *extra)
            try:
                url = f"{base}/v2/models/digits-mlp/infer"
                wrk(url, body, 16, 1.0, headers)  # warm up
                results[mode] = {c: wrk(url, body, c, args.seconds, headers) for c in (1, 64)}
            finally:
                proc.stop()
        verify_s, intact = audit_verify_seconds(100_000)
    finally:
        shutil.rmtree(home, ignore_errors=True)

    rows: list[list[Any]] = []
    for mode, by_c in results.items():
        for c, r in by_c.items():
            rows.append([mode, c, r["rps"], r["p50"], r["p99"], int(r["errors"])])
    table(
        "digits MLP through `modelplane up` (wrk -t1, one sample per request)",
        ["mode", "concurrency", "req/s", "p50 ms", "p99 ms", "errors"],
        rows,
    )
    off, on = results["no auth"], results["consumer key"]
    loss = 1 - on[64]["rps"] / off[64]["rps"]
    added_p50 = on[1]["p50"] - off[1]["p50"]
    table(
        "platform targets",
        ["measure", "value", "target", "result"],
        [
            ["throughput lost to auth+limit+metering, c=64", f"{loss:.1%}", "<= 10%", _ok(loss <= 0.10)],
            ["p50 added at c=1 (ms)", f"{added_p50:.3f}", "<= 0.3", _ok(added_p50 <= 0.3)],
            [
                "audit verify, 100,000 entries (s)",
                f"{verify_s:.2f}",
                f"<= {TARGET_S}",
                _ok(intact and verify_s <= TARGET_S),
            ],
        ],
    )
    print(f"wrk command: wrk -t1 -c<C> -d{args.seconds:g}s --latency --timeout 2s -s post.lua URL")


def _ok(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


if __name__ == "__main__":
    main()

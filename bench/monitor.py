"""Issue #19's targets in one table: what logging every request costs a served model and the log on disk
(part 1, here), then drift and estimated accuracy (part 2, bench/monitor_drift.py's functions).

- Throughput at c=64 and p50 latency at c=1 of one `modelplane serve` process serving the same version
  twice, one deployment logging every request (`log_sample` 1.0) and one not (0.0), on the digits MLP and
  the wide MLP (bench/serve.py trains both). Runs alternate off, on, on, off so a machine that drifts
  during the run charges both sides alike. Targets: <= 5 % fewer requests/s, <= 0.1 ms more p50.
- 1 M logged digits predictions (the digits MLP's real answers, one row per request, ids as the server
  makes them) written through `PredictionLog` and sealed into Parquet. Target: <= 60 MB.

    .venv/bin/python bench/monitor.py [--seconds 5] [--models digits,wide] [--rows 1000000]
Needs Debian's `wrk` (apt-get install wrk).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from serve import Proc, console, deploy, free_port, prepare, table, wait_http, wrk

DEPLOYMENTS = {"digits": "digits-mlp@1", "wide": "wide@1"}
ROW = [round(v, 4) for v in np.random.default_rng(0).random(64).tolist()]
V2_BODY = json.dumps({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": ROW}]})
MAX_THROUGHPUT_LOSS = 0.05
MAX_P50_MS = 0.1
MAX_MB = 60.0


def start_server(home: Path, models: list[str]) -> tuple[Proc, str]:
    """`modelplane serve` with `<model>-on` (logging every request) and `<model>-off` (logging nothing)."""
    port = free_port()
    server = Proc(
        [sys.executable, "-m", "modelplane.cli.main", "serve", "--port", str(port), "--grpc-port", "0"],
        {"MODELPLANE_HOME": str(home)},
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/v2/health/ready")
    for model in models:
        for side, sample in (("on", 1.0), ("off", 0.0)):
            spec = {"model": DEPLOYMENTS[model], "monitoring": {"log_sample": sample}}
            deploy(home, spec, f"{model}-{side}")  # saving again an existing deployment is fine
            wait_http(f"{base}/v2/models/{model}-{side}/ready")
    return server, base


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """CPU time (user + system) a process has used, every thread, or one `thread` (the event loop's is the
    process id): what logging adds to each request, readable even on a machine other work shares (where
    requests/s move with the neighbours' load)."""
    stat = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _alternating(
    base: str, pid: int, model: str, concurrency: int, seconds: float, rounds: int
) -> dict[str, dict[str, float]]:
    """Mean requests/s, p50, and server CPU µs per request (all threads, and the event loop's thread) with
    logging off and on, in the order off, on, on, off (`rounds` times)."""
    runs: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    for side in ("off", "on", "on", "off") * rounds:
        before, loop_before = cpu_seconds(pid), cpu_seconds(pid, pid)
        result = wrk(f"{base}/v2/models/{model}-{side}/infer", V2_BODY, concurrency, seconds)
        served = max(1.0, result["rps"] * round(seconds))
        result["cpu_us"] = (cpu_seconds(pid) - before) / served * 1e6
        result["loop_cpu_us"] = (cpu_seconds(pid, pid) - loop_before) / served * 1e6
        runs[side].append(result)
    keys = ("rps", "p50", "errors", "cpu_us", "loop_cpu_us")
    return {
        side: {key: float(np.mean([r[key] for r in found])) for key in keys} for side, found in runs.items()
    }


def logging_overhead(home: Path, models: list[str], seconds: float, rounds: int = 1) -> list[list[Any]]:
    """Rows: model, measure, logging off, logging on, change, target, result."""
    server, base = start_server(home, models)
    pid = server.popen.pid
    rows: list[list[Any]] = []
    try:
        for model in models:
            for _ in range(2):  # warm both deployments up (first requests page the model in)
                wrk(f"{base}/v2/models/{model}-off/infer", V2_BODY, 8, 1)
                wrk(f"{base}/v2/models/{model}-on/infer", V2_BODY, 8, 1)
            busy = _alternating(base, pid, model, 64, seconds, rounds)
            loss = 1 - busy["on"]["rps"] / busy["off"]["rps"]
            rows.append(
                [
                    model,
                    "req/s at c=64",
                    busy["off"]["rps"],
                    busy["on"]["rps"],
                    f"{-loss:+.1%}",
                    f"<= {MAX_THROUGHPUT_LOSS:.0%} fewer",
                    _verdict(loss <= MAX_THROUGHPUT_LOSS and not busy["on"]["errors"]),
                ]
            )
            cpu = busy["on"]["cpu_us"] / busy["off"]["cpu_us"] - 1
            rows.append(
                [
                    model,
                    "server CPU us/request at c=64",
                    f"{busy['off']['cpu_us']:.1f}",
                    f"{busy['on']['cpu_us']:.1f}",
                    f"{cpu:+.1%}",
                    f"<= {MAX_THROUGHPUT_LOSS:.0%} more",
                    _verdict(cpu <= MAX_THROUGHPUT_LOSS),
                ]
            )
            rows.append(
                [
                    model,
                    "  of which the event loop's thread",
                    f"{busy['off']['loop_cpu_us']:.1f}",
                    f"{busy['on']['loop_cpu_us']:.1f}",
                    f"{busy['on']['loop_cpu_us'] - busy['off']['loop_cpu_us']:+.1f} us",
                    "",
                    "",
                ]
            )
            quiet = _alternating(base, pid, model, 1, seconds, rounds)
            added = quiet["on"]["p50"] - quiet["off"]["p50"]
            rows.append(
                [
                    model,
                    "p50 ms at c=1",
                    f"{quiet['off']['p50']:.3f}",
                    f"{quiet['on']['p50']:.3f}",
                    f"{added:+.3f} ms",
                    f"<= +{MAX_P50_MS} ms",
                    _verdict(added <= MAX_P50_MS),
                ]
            )
        rows.append(["", "rows logged / dropped", "", *_logged(home, base, models), "", ""])
    finally:
        server.stop()
    return rows


def _logged(home: Path, base: str, models: list[str]) -> tuple[str, str]:
    """How many rows the logging deployments wrote (after the server sealed them) and dropped."""
    from prometheus_client.parser import text_string_to_metric_families

    dropped = 0.0
    for family in text_string_to_metric_families(httpx.get(f"{base}/metrics").text):
        for sample in family.samples:
            if sample.name == "modelplane_prediction_log_dropped_total":
                dropped += sample.value
    time.sleep(1.5)  # one flush interval: the last second's rows reach the stream
    from modelplane.monitoring.log_files import read_log

    written = sum(read_log(home, f"{m}-on", columns=["row"]).num_rows for m in models)
    return f"{written:,}", f"{int(dropped):,}"


def log_size(home: Path, rows: int) -> list[list[Any]]:
    """Rows: the bytes and write rate of `rows` logged digits predictions sealed into Parquet."""
    from sklearn.datasets import load_digits  # what builtin:digits holds

    import modelplane
    from modelplane.monitoring.log_writer import PredictionLog
    from modelplane.registry.loading import load_runtime
    from modelplane.serving.manager import new_request_id

    local = modelplane.Local(home)
    info = local.models.version("digits-mlp@1")
    x = load_digits().data.astype(np.float32)
    outputs = load_runtime(local.store, info).predict(x)
    local.close()
    classes = list(info.classes or [])
    labels = np.array(classes, dtype=object)[outputs["label"]]
    probabilities = np.asarray(outputs["probabilities"], np.float32)
    folder = Path(tempfile.mkdtemp(prefix="mp-bench-log-"))
    log = PredictionLog(folder, queue_rows=2 * 65_536)
    pick = np.random.default_rng(1).integers(0, len(x), rows)
    started = time.perf_counter()
    submit_s = 0.0
    for start in range(0, rows, 50_000):
        mark = time.perf_counter()
        for i in pick[start : start + 50_000]:
            log.submit(
                "digits",
                "1",
                new_request_id(),
                None,
                0.8,
                200,
                x[i : i + 1],
                None,
                {"label": labels[i : i + 1], "probabilities": probabilities[i : i + 1]},
                classes,
            )
        submit_s += time.perf_counter() - mark
        log.flush()
    log.close()
    elapsed = time.perf_counter() - started
    size = sum(p.stat().st_size for p in folder.rglob("*.parquet")) / 1e6
    left = list(folder.rglob("*.arrows"))
    shutil.rmtree(folder)
    return [
        [
            "digits",
            f"{rows:,} logged predictions on disk",
            "",
            f"{size:.1f} MB",
            f"{size * 1e6 / rows:.1f} B/row",
            f"<= {MAX_MB * rows / 1e6:.0f} MB",
            _verdict(size <= MAX_MB * rows / 1e6 and not left and not log.dropped),
        ],
        ["digits", "submit (event loop) per request", "", f"{submit_s / rows * 1e6:.2f} us", "", "", ""],
        ["digits", "written + sealed, rows/s", "", f"{rows / elapsed:,.0f}", "", "", ""],
    ]


def drift_rows() -> list[list[Any]]:
    """Part 2 (bench/monitor_drift.py): a 100k-row window's every test, one-feature shifts and false
    alarms, and estimated vs true accuracy under noise, for logreg, the MLP and the CNN, in this table's
    columns."""
    from monitor_drift import all_rows

    return [
        ["", measure, "", measured, "", target, _verdict(ok) if target != "-" else "-"]
        for measure, measured, target, ok in all_rows()
    ]


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each load run")
    parser.add_argument("--models", default="digits,wide", help="which of digits,wide to load-test")
    parser.add_argument("--rows", type=int, default=1_000_000, help="logged predictions to size (0: skip)")
    parser.add_argument("--rounds", type=int, default=1, help="off, on, on, off runs per measure")
    parser.add_argument("--home", type=Path, help="a home an earlier run prepared (skips training)")
    parser.add_argument(
        "--no-drift", action="store_true", help="skip the drift and estimated-accuracy measures (part 2)"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/monitor.py needs wrk: apt-get install wrk")
    home = args.home or Path(tempfile.mkdtemp(prefix="mp-bench-monitor-"))
    if args.home is None:
        prepare(home)
    rows = logging_overhead(home, args.models.split(","), args.seconds, args.rounds)
    if args.rows:
        rows += log_size(home, args.rows)
    if not args.no_drift:
        rows += drift_rows()
    table(
        "monitoring (issue #19): the prediction log's cost and size, drift speed and sensitivity, estimated "
        "accuracy",
        ["model", "measure", "logging off", "logging on", "change", "target", "result"],
        rows,
    )
    console.print(f"wrk -t1 -c<C> -d{args.seconds:g}s, one 64-feature row per request, V2 JSON")


if __name__ == "__main__":
    main()

"""Batch prediction on Ray against the embedded batch job, on the same machine: 1,000,000 digits-shaped rows
(bench/batch.py's file) through a deployed digits-cnn, each job run as `modelplane batch` runs it (submitted,
then run by a one-job worker in this process's pool), once embedded and once with MODELPLANE_RAY_ADDRESS
set to a local Ray head this bench starts with 2 CPUs. Runs alternate embedded/Ray so that load which
drifts hits both; ratios are the median of the pairs'. The outputs must be identical (schema, ids in order,
predictions): the same runtime and rules predict both.

The target is on each job's own rows/s, measured alike: from the model(s) loaded (the embedded job's; the
first Ray actor's) to the output published. Submit -> success rows/s are shown beside it, with the
seconds outside that window: on Ray, connecting, the driver actor and the actor pool's start.

Where the Ray path spends its time (1,000,000 rows, chunks of 50,000, this 2-core machine): no rows are
serialised (the dataset holds chunk indices; actors read their chunks themselves); 2 actors x 1 thread
predict a little faster than 1 x 2 (idle machine: 275-308k vs 252-276k rows/s; under load ~5-9 from other
work: 6.7 s vs 9.5 s for the rows) since one actor's reads and part writes overlap the other's runtime calls.
Start-up dominates: on an idle machine 4.6-7.5 s outside the job's window against ~1 s embedded (connecting
the job process, the driver actor, then new worker processes importing Ray Data, pyarrow and modelplane
before the first actor's constructor; the model loads in 0.2 s); under load up to ~20 s. So the job's rows/s
meets the target (median 86%, 3 pairs: 75-110%), while submit -> success on 1M rows, which the embedded
job finishes in ~4 s, is ~48%. Outputs of a span's chunks leave an actor together, so progress moves a span
at a time.

    .venv/bin/python bench/scaleout_batch.py [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from batch import DEPLOYMENT, prepare, write_rows

console = Console(width=140)
TARGET = 0.70


@contextlib.contextmanager
def ray_head(cpus: int = 2) -> Iterator[str]:
    """A Ray head on the loopback address with `cpus` CPUs, stopped (this one only) on the way out."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # short: Ray's socket paths are limited
    command = [str(Path(sys.executable).with_name("ray")), "start", "--head", "--block"]
    command += ["--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", str(cpus)]
    command += ["--include-dashboard=false", "--disable-usage-stats", "--temp-dir", str(temp)]
    head = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            if head.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Ray head did not start")
            time.sleep(0.1)
        yield address
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        shutil.rmtree(temp, ignore_errors=True)


def run_batch(home: Path, source: Path, output: Path, address: str | None) -> dict[str, Any]:
    """One foreground batch job (as `modelplane batch` runs it) on `address` (None: embedded)."""
    from modelplane.config import get_settings
    from modelplane.local import Local

    if address is None:
        os.environ.pop("MODELPLANE_RAY_ADDRESS", None)
    else:
        os.environ["MODELPLANE_RAY_ADDRESS"] = address
    get_settings.cache_clear()
    local = Local(home)
    try:
        started = time.perf_counter()
        job = local.batch(DEPLOYMENT, source, output, id_column="row_id", overwrite=True)
        wall = time.perf_counter() - started
    finally:
        local.close()
    assert job.result is not None
    result = job.result
    return {
        "e2e": result["rows"] / wall,  # submit to success
        "job": result["rows_per_s"],  # the job's own: from its model(s) loaded to the output published
        "overhead_s": wall - result["seconds"],  # everything before the first model was ready, and after
        "pool": f"{result['actors']} actor(s) x {result['threads']} thread(s)" if "actors" in result else "",
    }


def rows(quick: bool) -> list[dict[str, object]]:
    """The measures, one dict per row of the table."""
    count, pairs = (100_000, 1) if quick else (1_000_000, 3)
    home = Path(tempfile.mkdtemp(prefix="mp-bench-scaleout-batch-")).resolve()
    os.environ["MODELPLANE_HOME"] = str(home)
    try:
        names = prepare(home)
        source = home / "rows.parquet"
        write_rows(source, count, names)
        here, there = home / "embedded.parquet", home / "ray.parquet"
        embedded, clustered = [], []
        with ray_head() as address:
            for _ in range(pairs):
                embedded.append(run_batch(home, source, here, None))
                clustered.append(run_batch(home, source, there, address))
        identical = pq.read_table(here).equals(pq.read_table(there))
    finally:
        os.environ.pop("MODELPLANE_RAY_ADDRESS", None)
        shutil.rmtree(home, ignore_errors=True)

    def ratios(key: str) -> tuple[str, float]:
        found = [r[key] / e[key] for e, r in zip(embedded, clustered, strict=True)]
        return " / ".join(f"{r:.0%}" for r in found), statistics.median(found)

    def each(runs: list[dict[str, Any]], key: str, unit: str = "") -> str:
        return " / ".join(f"{run[key]:,.{1 if unit else 0}f}" for run in runs) + unit

    job, job_median = ratios("job")
    e2e, e2e_median = ratios("e2e")
    return [
        {
            "measure": f"rows/s of the job, {count:,} rows (models loaded -> output published)",
            "reference": each(embedded, "job") + " (embedded)",
            "ours": each(clustered, "job") + " (Ray Data)",
            "ratio_or_delta": f"{job}; median {job_median:.0%}",
            "target": f">= {TARGET:.0%}",
            "met": job_median >= TARGET,
        },
        {
            "measure": "rows/s, submit -> success (start-up included)",
            "reference": each(embedded, "e2e"),
            "ours": each(clustered, "e2e"),
            "ratio_or_delta": f"{e2e}; median {e2e_median:.0%}",
            "target": "",
            "met": "",
        },
        {
            "measure": "time outside the job's rows/s (start-up: connect, driver, pool, model load)",
            "reference": each(embedded, "overhead_s", " s"),
            "ours": each(clustered, "overhead_s", " s"),
            "ratio_or_delta": "",
            "target": "",
            "met": "",
        },
        {
            "measure": "Ray Data actor pool",
            "reference": "",
            "ours": clustered[0]["pool"],
            "ratio_or_delta": "",
            "target": "",
            "met": "",
        },
        {
            "measure": "outputs identical (schema, ids in order, predictions)",
            "reference": "embedded",
            "ours": str(identical),
            "ratio_or_delta": "",
            "target": "True",
            "met": identical,
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="100,000 rows, one pair")
    args = parser.parse_args()
    found = rows(args.quick)
    table = Table(title="batch prediction: Ray Data vs the embedded job (2 CPUs)", title_justify="left")
    for column in found[0]:
        table.add_column(column)
    for row in found:
        met = row["met"]
        table.add_row(
            *(str(v) for v in list(row.values())[:-1]), "" if met == "" else ("yes" if met else "NO")
        )
    console.print(table)


if __name__ == "__main__":
    main()

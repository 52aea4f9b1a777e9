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
import os
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from scaleout_table import run_jobs_on, show

from modelplane.cluster.local_head import local_head

sys.path.insert(0, str(Path(__file__).parent))
from batch import DEPLOYMENT, prepare, write_rows

TARGET = 0.70


def run_batch(home: Path, source: Path, output: Path, address: str | None) -> dict[str, Any]:
    """One foreground batch job (as `modelplane batch` runs it) on `address` (None: embedded)."""
    from modelplane.local import Local

    run_jobs_on(address)
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


def rows(quick: bool, address: str | None = None) -> list[dict[str, object]]:
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
        with nullcontext(address) if address else local_head(cpus=2) as head:
            for _ in range(pairs):
                embedded.append(run_batch(home, source, here, None))
                clustered.append(run_batch(home, source, there, head))
        identical = pq.read_table(here).equals(pq.read_table(there))
    finally:
        run_jobs_on(None)
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
            "met": None,
        },
        {
            "measure": "time outside the job's rows/s (start-up: connect, driver, pool, model load)",
            "reference": each(embedded, "overhead_s", " s"),
            "ours": each(clustered, "overhead_s", " s"),
            "ratio_or_delta": "",
            "target": "",
            "met": None,
        },
        {
            "measure": "Ray Data actor pool",
            "reference": "",
            "ours": clustered[0]["pool"],
            "ratio_or_delta": "",
            "target": "",
            "met": None,
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
    parser.add_argument("--address", help="a running Ray head (default: start one for the bench)")
    args = parser.parse_args()
    show("batch prediction: Ray Data vs the embedded job (2 CPUs)", rows(args.quick, args.address))


if __name__ == "__main__":
    main()

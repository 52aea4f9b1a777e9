"""Issue #21 in one table: data-parallel training (DDP, 1 vs 2 workers), and training, tuning and batch
prediction on a local Ray head against the embedded path on the same machine.

    .venv/bin/python bench/distributed.py [--quick] [--address HOST:PORT] [--only ddp,train,tune,batch]

Without --address a Ray head is started on the loopback address (2 CPUs) and stopped after the bench.
The 8-worker DDP run the issue asks for needs the accelerator machine; this bench runs where it is started.
"""

from __future__ import annotations

import argparse
from contextlib import nullcontext

import scaleout_batch
import scaleout_ddp
import scaleout_train
import scaleout_tune
from scaleout_table import show

PARTS = ("ddp", "train", "tune", "batch")


def main() -> None:
    from modelplane.cluster.local_head import local_head

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs and rows: a smoke run")
    parser.add_argument("--address", help="a running Ray head (default: start one for the bench)")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {PARTS}")
    args = parser.parse_args()
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown parts {unknown}; choose from {', '.join(PARTS)}")
    rows: list[dict[str, object]] = []
    if "ddp" in parts:
        rows += scaleout_ddp.rows(args.quick)
    head = nullcontext(args.address) if args.address else local_head(cpus=2)
    with head as address:
        if "train" in parts:
            rows += scaleout_train.rows(args.quick, address)
        if "tune" in parts:
            rows += scaleout_tune.rows(args.quick, address)
        if "batch" in parts:
            rows += scaleout_batch.rows(args.quick, address)
    show("scale-out: DDP and Ray (reference = one process / the embedded path)", rows)


if __name__ == "__main__":
    main()

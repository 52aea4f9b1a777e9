"""Issue #21, training on Ray: the digits CNN with `--workers 2` trained by Ray Train's TorchTrainer on a
local head against the same run config trained embedded (the local DDP launcher), same seeds.

- test accuracy: equal within noise (the same fit_rank loop on both; target within 0.5 points);
- wall time of each run (Ray's worker start-up included): reported.

    .venv/bin/python bench/scaleout_train.py [--quick] [--address HOST:PORT]

`rows(quick, address)` is what bench/distributed.py puts in its table.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from scaleout_table import run_jobs_on, show

SEEDS = (0, 1)
TARGET_POINTS = 0.5


def _train(home: Path, seed: int, epochs: int, address: str | None) -> tuple[float, float]:
    """(test accuracy %, wall seconds) of one run, on Ray when `address` is given."""
    import modelplane

    run_jobs_on(address)
    platform = modelplane.Local(home)
    try:
        if not platform.datasets.list():
            platform.datasets.add("digits", source="builtin:digits")
        started = time.perf_counter()
        run = platform.train(
            data="digits",
            model="cnn",
            train={"epochs": epochs, "batch_size": 64, "seed": seed, "workers": 2},
        )
        seconds = time.perf_counter() - started
    finally:
        platform.close()
    return 100 * float(run.metrics["test"]["accuracy"]), seconds


def rows(quick: bool, address: str) -> list[dict[str, object]]:
    """Table rows {measure, reference (embedded), ours (Ray Train), ratio_or_delta, target, met}."""
    epochs = 3 if quick else 10
    found: dict[str, list[tuple[float, float]]] = {"embedded": [], "ray": []}
    with tempfile.TemporaryDirectory(prefix="bench-ray-train-") as tmp:
        for seed in SEEDS:
            found["embedded"].append(_train(Path(tmp) / "embedded", seed, epochs, None))
            found["ray"].append(_train(Path(tmp) / "ray", seed, epochs, address))
    accuracy = {k: statistics.mean(a for a, _ in v) for k, v in found.items()}
    seconds = {k: statistics.mean(s for _, s in v) for k, v in found.items()}
    delta = accuracy["ray"] - accuracy["embedded"]
    return [
        {
            "measure": f"Ray Train digits cnn test accuracy %, 2 workers ({len(SEEDS)} seeds, {epochs} ep.)",
            "reference": round(accuracy["embedded"], 2),
            "ours": round(accuracy["ray"], 2),
            "ratio_or_delta": f"{delta:+.2f} points",
            "target": f"equal within noise ({TARGET_POINTS} points)",
            "met": abs(delta) <= TARGET_POINTS,
        },
        {
            "measure": "Ray Train digits cnn wall seconds per run (start-up included)",
            "reference": round(seconds["embedded"], 1),
            "ours": round(seconds["ray"], 1),
            "ratio_or_delta": f"{seconds['ray'] / seconds['embedded']:.2f}x",
            "target": "reported",
            "met": None,
        },
    ]


def main() -> None:
    from modelplane.cluster.local_head import local_head

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 epochs instead of 10")
    parser.add_argument("--address", help="a running Ray head (default: start one for the bench)")
    args = parser.parse_args()
    if args.address:
        show("training on Ray Train", rows(args.quick, args.address))
        return
    with local_head() as address:
        show("training on Ray Train", rows(args.quick, address))


if __name__ == "__main__":
    main()

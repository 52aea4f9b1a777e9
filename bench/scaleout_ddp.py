"""Issue #21, data-parallel training: the digits CNN with `--workers 2` against `--workers 1` at the same
global batch and epochs, over 3 seeds.

- test accuracy, mean over the seeds: within 0.5 points of one process (the target);
- time per epoch (training and evaluation, from the runs' histories), 1 vs 2 workers: reported, no target
  (on a 2-core machine two ranks share the cores the one process already used); also against one process
  at one torch thread, each rank's share, which is the scaling efficiency (intra-op threads degrade badly
  on a busy machine, which flatters the ranks against the default one-process run).

    .venv/bin/python bench/scaleout_ddp.py [--quick]

`rows(quick)` is what bench/distributed.py puts in its table.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch
from scaleout_table import show

from modelplane.cores import usable_cores

SEEDS = (0, 1, 2)
TARGET_POINTS = 0.5


def _train(home: Path, workers: int, seed: int, epochs: int) -> tuple[float, float]:
    """(test accuracy, mean seconds per epoch) of one run."""
    import modelplane

    platform = modelplane.Local(home)
    try:
        if not platform.datasets.list():
            platform.datasets.add("digits", source="builtin:digits")
        run = platform.train(
            data="digits",
            model="cnn",
            name=f"digits-cnn-w{workers}",
            train={"epochs": epochs, "batch_size": 64, "seed": seed, "workers": workers},
        )
    finally:
        platform.close()
    per_epoch = statistics.mean(float(e["seconds"]) for e in run.history)
    return float(run.metrics["test"]["accuracy"]), per_epoch


def rows(quick: bool) -> list[dict[str, object]]:
    """Table rows {measure, reference (1 worker), ours (2 workers), ratio_or_delta, target, met}."""
    epochs = 4 if quick else 15
    results: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory(prefix="bench-ddp-") as home:
        for seed in SEEDS:
            for workers in (1, 2):
                results[workers].append(_train(Path(home), workers, seed, epochs))
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # one core's worth: what each of 2 ranks gets on 2 cores
        try:
            one_thread = _train(Path(home), 1, SEEDS[0], epochs)[1]
        finally:
            torch.set_num_threads(threads)
    accuracy = {w: statistics.mean(100 * a for a, _ in found) for w, found in results.items()}
    seconds = {w: statistics.mean(s for _, s in found) for w, found in results.items()}
    delta = accuracy[2] - accuracy[1]
    return [
        {
            "measure": f"digits cnn test accuracy %, workers 2 vs 1 ({len(SEEDS)} seeds, {epochs} epochs)",
            "reference": round(accuracy[1], 2),
            "ours": round(accuracy[2], 2),
            "ratio_or_delta": f"{delta:+.2f} points",
            "target": f"within {TARGET_POINTS} points",
            "met": abs(delta) <= TARGET_POINTS,
        },
        {
            "measure": "  per seed " + ", ".join(str(seed) for seed in SEEDS),
            "reference": ", ".join(f"{100 * a:.2f}" for a, _ in results[1]),
            "ours": ", ".join(f"{100 * a:.2f}" for a, _ in results[2]),
            "ratio_or_delta": "",
            "target": "",
            "met": None,
        },
        {
            "measure": f"s/epoch, workers 2 vs 1 ({threads} torch threads, {usable_cores()} cores)",
            "reference": round(seconds[1], 3),
            "ours": round(seconds[2], 3),
            "ratio_or_delta": f"{seconds[1] / seconds[2]:.2f}x speed-up",
            "target": "reported (no target on 2 cores)",
            "met": None,
        },
        {
            "measure": "s/epoch, workers 2 vs 1 process at 1 torch thread",
            "reference": round(one_thread, 3),
            "ours": round(seconds[2], 3),
            "ratio_or_delta": f"{one_thread / seconds[2]:.2f}x speed-up",
            "target": "reported (scaling efficiency)",
            "met": None,
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 epochs instead of 15")
    show("data-parallel training (DDP), digits cnn", rows(parser.parse_args().quick))


if __name__ == "__main__":
    main()

"""Scale-out target for tuning: the same 8-trial study embedded and on a local Ray head (Ray Tune with
Optuna's sampler and ASHA) finds a best trial equal within noise, and how long each takes.

Both search the default `mlp` space with TPE, the same seed and split, median pruning embedded (one process,
the default) and ASHA on Ray (2 trials at once, one per CPU of the head). "Within noise": the best
validation accuracies differ by at most 2 standard errors of an accuracy measured on the validation split
(sqrt(p(1-p)/n)); one validation row is 1/n. Wall time has no target on this 2-core machine: Ray's start-up
(trial actors importing torch) is paid once per study.

    .venv/bin/python bench/scaleout_tune.py [--quick] [--address HOST:PORT]

Without --address a Ray head is started on the loopback address for the bench and stopped after it.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from scaleout_table import run_jobs_on, show

from modelplane.cluster.local_head import local_head

TRIALS = 8
RAY_PARALLEL = 2


def study(home: Path, *, data: str, epochs: int, address: str | None) -> dict[str, Any]:
    """One study (embedded when `address` is None): best validation accuracy, trials, wall seconds."""
    import modelplane

    run_jobs_on(address)
    platform = modelplane.Local(home)
    try:
        platform.datasets.add(data, source=f"builtin:{data}")
        started = time.perf_counter()
        found = platform.tune(
            data=data,
            model="mlp",
            trials=TRIALS,
            train={"epochs": epochs},
            parallel=1 if address is None else RAY_PARALLEL,
            seed=0,
        )
        seconds = time.perf_counter() - started
        return {
            "best": found.best_value,
            "states": found.states,
            "seconds": seconds,
            "rows": _validation_rows(platform.store, data),
            "version": found.model_version,
        }
    finally:
        platform.close()
        run_jobs_on(None)


def _validation_rows(store: Any, data: str) -> int:
    """Rows of the validation split every trial scores on (the default split, seed 0)."""
    import numpy as np

    from modelplane.data.catalog import get_version, load_arrays
    from modelplane.data.splits import SplitConfig, split_indices

    _, target = load_arrays(store, get_version(store, data))
    assert target is not None
    return int(split_indices(np.asarray(target), SplitConfig(), stratify=True)["validation"].size)


def rows(quick: bool, address: str | None = None) -> list[dict[str, object]]:
    data, epochs = ("iris", 3) if quick else ("digits", 6)
    import torch

    torch.set_num_threads(1)  # tiny MLPs: one thread each, as Ray's one-CPU trials run
    with tempfile.TemporaryDirectory() as tmp:
        embedded = study(Path(tmp) / "embedded", data=data, epochs=epochs, address=None)
        head = nullcontext(address) if address else local_head(cpus=RAY_PARALLEL)
        with head as started:
            on_ray = study(Path(tmp) / "ray", data=data, epochs=epochs, address=started)
    best = float(embedded["best"])
    noise = 2 * math.sqrt(max(best * (1 - best), 1e-9) / embedded["rows"])
    delta = float(on_ray["best"]) - best
    setting = f"{data} mlp, {TRIALS} trials x {epochs} epochs"
    return [
        {
            "measure": f"best val accuracy ({setting})",
            "reference": f"{best:.4f} embedded {_states(embedded)}",
            "ours": f"{on_ray['best']:.4f} on Ray {_states(on_ray)}",
            "ratio_or_delta": f"{delta:+.4f}",
            "target": f"|delta| <= {noise:.4f} (2 s.e., {embedded['rows']} val rows)",
            "met": abs(delta) <= noise,
        },
        {
            "measure": "study wall time, s",
            "reference": f"{embedded['seconds']:.1f} embedded, 1 process",
            "ours": f"{on_ray['seconds']:.1f} on Ray, {RAY_PARALLEL} trials at once",
            "ratio_or_delta": f"{on_ray['seconds'] / embedded['seconds']:.2f}x",
            "target": "none (2-core machine)",
            "met": None,
        },
    ]


def _states(result: dict[str, Any]) -> str:
    return "(" + ", ".join(f"{n} {s}" for s, n in result["states"].items()) + ")"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="iris, 3 epochs (else digits, 6 epochs)")
    parser.add_argument("--address", help="a running Ray head (default: start one for the bench)")
    args = parser.parse_args()
    show("tuning: embedded vs Ray Tune", rows(args.quick, args.address))


if __name__ == "__main__":
    main()

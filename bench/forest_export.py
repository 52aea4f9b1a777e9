"""Random-forest ONNX export, old path (skl2onnx's converter) against models/forest_onnx.py, one table:

1. speed: forest_onnx's whole export (convert, contract, save, checker) takes <= 10 % of the forest's fit;
   the old export (skl2onnx's conversion, then the same contract, save and checker) of the same fitted
   forest is shown beside it, and the time ONNX Runtime takes to load each file (verification loads it).
2. agreement: both graphs against ``predict_proba`` on held-out rows, max |probability difference|
   (forest_onnx <= 1e-5: float32 sums of the trees' leaf fractions).

Defaults: a StandardScaler and a 50-tree RandomForestClassifier (unlimited depth) on 140k x 60 rows, a
3-class target with label noise, so trees grow deep as they do on real tables.

    .venv/bin/python bench/forest_export.py [--rows 140000] [--features 60] [--trees 50]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import skl2onnx  # noqa: F401  both exports use it (the scaler); its ~0.3 s import is not an export's cost
from rich.console import Console
from rich.table import Table
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from modelplane.models.onnx_checks import check_onnx
from modelplane.models.sklearn_export import _skl2onnx, _to_contract, export_sklearn_onnx
from modelplane.runtimes.onnx_runtime import OnnxRuntime

console = Console(width=160)
HELD_OUT = 5_000


def table(rows: int, features: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows + HELD_OUT, features)).astype(np.float32)
    score = x[:, 0] - 0.8 * x[:, 1] + 0.5 * x[:, 2] * x[:, 3] + rng.normal(scale=0.7, size=len(x))
    return x, np.digitize(score, [-0.5, 0.5])


def skl2onnx_export(pipeline: Pipeline, features: int, path: Path) -> None:
    """The export as it was before forest_onnx: skl2onnx converts the whole pipeline."""
    model = _skl2onnx(pipeline, features, classifier=pipeline[-1])
    _to_contract(model.graph, "classification", (features,), len(pipeline.classes_))
    onnx.save(model, str(path))
    check_onnx(path, "classification")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=140_000)
    parser.add_argument("--features", type=int, default=60)
    parser.add_argument("--trees", type=int, default=50)
    args = parser.parse_args()
    x, y = table(args.rows, args.features)
    pipeline = make_pipeline(StandardScaler(), RandomForestClassifier(args.trees, n_jobs=-1, random_state=0))
    start = time.perf_counter()
    pipeline.fit(x[: args.rows], y[: args.rows])
    fit = time.perf_counter() - start
    nodes = sum(e.tree_.node_count for e in pipeline[-1].estimators_)
    held_out = x[args.rows :]
    expected = pipeline.predict_proba(held_out)
    seconds: dict[str, float] = {}
    load: dict[str, float] = {}
    error: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, export in (
            (
                "forest_onnx",
                lambda p: export_sklearn_onnx(
                    pipeline, task="classification", input_shape=(args.features,), path=p
                ),
            ),
            ("skl2onnx", lambda p: skl2onnx_export(pipeline, args.features, p)),
        ):
            path = Path(tmp) / f"{name}.onnx"
            start = time.perf_counter()
            export(path)
            seconds[name] = time.perf_counter() - start
            start = time.perf_counter()
            runtime = OnnxRuntime(path)
            load[name] = time.perf_counter() - start
            error[name] = float(np.abs(runtime.predict(held_out)["probabilities"] - expected).max())
    rows = [
        ["fit (StandardScaler + forest)", f"{fit:.1f} s", "", ""],
        [
            "export, skl2onnx (old)",
            f"{seconds['skl2onnx']:.1f} s",
            "",
            f"max |p diff| {error['skl2onnx']:.2g}",
        ],
        [
            "export, forest_onnx (new)",
            f"{seconds['forest_onnx']:.2f} s",
            f"<= {0.1 * fit:.1f} s (10 % of fit)",
            "[green]PASS" if seconds["forest_onnx"] <= 0.1 * fit else "[red]FAIL",
        ],
        ["ONNX Runtime session, skl2onnx's graph", f"{load['skl2onnx']:.1f} s", "", ""],
        ["ONNX Runtime session, forest_onnx's graph", f"{load['forest_onnx']:.1f} s", "", ""],
        [
            "agreement, forest_onnx",
            f"{error['forest_onnx']:.2g}",
            "<= 1e-5",
            "[green]PASS" if error["forest_onnx"] <= 1e-5 else "[red]FAIL",
        ],
    ]
    out = Table(title=f"{args.trees} trees, {nodes:,} nodes, {args.rows:,} x {args.features} rows")
    for column in ("", "measured", "target", "result"):
        out.add_column(column)
    for row in rows:
        out.add_row(*row)
    console.print(out)
    console.print(f"speed-up of the export: {seconds['skl2onnx'] / seconds['forest_onnx']:.0f}x")
    if seconds["forest_onnx"] > 0.1 * fit or error["forest_onnx"] > 1e-5:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

"""What the preprocessing adds to a served model: a small MLP (64 inputs, hidden [128, 64], 2 classes,
exported by modelplane's torch exporter) served alone from a float32 [N, 64] array, against the same MLP
merged behind the preprocessing graph and fed raw column blocks (numeric float32, categorical strings,
datetime float64 epoch seconds), prepared once outside the timing, as a server holds them. Target: at most
+30 % at batch 1. ONNX Runtime, one intra-op thread, the platform's session settings; the best of 15 rounds,
the two sessions taking turns within each round.

Three tables, each fitted to exactly 64 features:
- numeric: 56 numeric columns, 8 of them with missing values (so 8 indicators);
- mixed: 32 numeric (4 with missing), 2 boolean, 3 categorical (12, 10 and 4 kinds, max_categories 8:
  one-hot 8 + 8 + 4 features, two with an unknown bucket), 1 datetime with missing values (5 parts and an
  indicator);
- no-dates: the mixed table with 38 numeric columns in place of the datetime one, to show what the
  datetime arithmetic costs.

    .venv/bin/python bench/prep.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from modelplane.models.spec import MLPSpec
from modelplane.models.torch_export import export_torch_onnx
from modelplane.models.torch_zoo import build_torch_model
from modelplane.tables.columns import Column
from modelplane.tables.prep import PrepOptions, Preprocessor

BATCHES = (1, 4096)


def numeric_table(n: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], list[Column]]:
    values = {f"x{i}": rng.normal(size=n) for i in range(56)}
    for i in range(8):
        values[f"x{i}"][rng.random(n) < 0.1] = np.nan
    return values, [Column(name, "numeric") for name in values]


def mixed_table(
    n: int, rng: np.random.Generator, *, dates: bool = True
) -> tuple[dict[str, np.ndarray], list[Column]]:
    values: dict[str, np.ndarray] = {f"x{i}": rng.normal(size=n) for i in range(32 if dates else 38)}
    for i in range(4):
        values[f"x{i}"][rng.random(n) < 0.1] = np.nan
    columns = [Column(name, "numeric") for name in values]
    for name in ("b0", "b1"):
        values[name] = (rng.random(n) < 0.5).astype(np.float64)
        columns.append(Column(name, "boolean"))
    for name, kinds in (("plan", 12), ("region", 10), ("channel", 4)):
        weights = 1 / np.arange(1, kinds + 1)
        values[name] = rng.choice([f"{name}{k}" for k in range(kinds)], n, p=weights / weights.sum()).astype(
            object
        )
        columns.append(Column(name, "categorical"))
    if dates:
        values["signup"] = rng.uniform(1.2e9, 1.8e9, n)
        values["signup"][rng.random(n) < 0.05] = np.nan
        columns.append(Column("signup", "datetime"))
    return values, columns


def no_dates_table(n: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], list[Column]]:
    return mixed_table(n, rng, dates=False)


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def per_call_us(
    sessions: list[ort.InferenceSession], feeds: list[dict[str, np.ndarray]], rounds: int
) -> list[float]:
    """Best µs per call of each session over `rounds` rounds, the sessions interleaved within each round so
    that a busy spell of the machine hits them alike."""
    calls = 4000 if len(next(iter(feeds[0].values()))) == 1 else 20
    best = [float("inf")] * len(sessions)
    for sess, feed in zip(sessions, feeds, strict=True):
        for _ in range(calls // 10):
            sess.run(None, feed)
    for _ in range(rounds):
        for i, (sess, feed) in enumerate(zip(sessions, feeds, strict=True)):
            start = time.perf_counter()
            for _ in range(calls):
                sess.run(None, feed)
            best[i] = min(best[i], (time.perf_counter() - start) / calls * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    spec = MLPSpec(kind="mlp", task="classification", input_shape=[64], num_outputs=2)
    with tempfile.TemporaryDirectory() as tmp:
        path = export_torch_onnx(
            build_torch_model(spec).eval(),
            task="classification",
            input_shape=[64],
            path=Path(tmp) / "mlp.onnx",
        )
        model = onnx.load(str(path))
    bare = session(model)
    print(f"{'table':<8} {'batch':>6} {'model us':>10} {'merged us':>10} {'added':>7} {'nodes':>6}")
    for name, make in (("numeric", numeric_table), ("mixed", mixed_table), ("no-dates", no_dates_table)):
        values, columns = make(2000, rng)
        prep = Preprocessor.fit(values, columns, PrepOptions(max_categories=8))
        assert prep.width == 64, prep.width
        merged = prep.merged_with(model)
        served = session(merged)
        nodes = len(merged.graph.node) - len(model.graph.node)
        for batch in BATCHES:
            rows, _ = make(batch, rng)
            feeds = [{"input": prep.transform(rows)}, prep.blocks(rows)]
            alone, joined = per_call_us([bare, served], feeds, args.rounds)
            print(
                f"{name:<8} {batch:>6} {alone:>10.1f} {joined:>10.1f} {joined / alone - 1:>+7.0%} {nodes:>6}"
            )


if __name__ == "__main__":
    main()

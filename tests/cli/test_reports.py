"""The CLI's report tables: an evaluation report as headline metrics, per-class table, confusion matrix (up
to 20 classes) and latency. (Comparison tables are drawn by `compare`: tests/compression/test_compare.py.)"""

from __future__ import annotations

import numpy as np
from rich.console import Console
from sklearn.datasets import load_diabetes, load_digits
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelplane.cli.reports import render_report
from modelplane.evaluation.report import evaluate
from modelplane.evaluation.views import EvaluationReport
from modelplane.runtimes.sklearn_runtime import SklearnRuntime


def rendered(report: EvaluationReport) -> str:
    console = Console(record=True, width=200)
    render_report(report, title="digits [v1]", console=console)
    return console.export_text()


def test_classification_report() -> None:
    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=200)).fit(x[:500], y[:500])
    runtime = SklearnRuntime(pipeline, task="classification", input_shape=(64,))
    report = evaluate(
        runtime, x[500:800], y[500:800], task="classification", batch_size=64, latency_samples=20
    )
    text = rendered(report)
    for expected in (
        "digits [v1]",
        "accuracy",
        "f1_macro",
        "roc_auc",
        "log_loss",
        "Per class",
        "Confusion",
        "batch1_p95_ms",
    ):
        assert expected in text


def test_confusion_matrix_is_left_out_above_20_classes() -> None:
    n = 25
    report = EvaluationReport(
        task="classification",
        n_samples=n,
        metrics={
            "accuracy": 1.0,
            "per_class": {
                f"c{i}": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1} for i in range(n)
            },
            "confusion_matrix": np.eye(n, dtype=int).tolist(),
        },
        latency={},
    )
    text = rendered(report)
    assert "c24" in text and "Confusion" not in text and "Latency" not in text


def test_regression_report_with_names_and_no_latency() -> None:
    x, y = load_diabetes(return_X_y=True)
    x = x.astype(np.float32)
    runtime = SklearnRuntime(
        make_pipeline(Ridge()).fit(x[:300], y[:300]), task="regression", input_shape=(10,)
    )
    report = evaluate(runtime, x[300:], y[300:], task="regression", latency_samples=0)
    text = rendered(report)
    assert "rmse" in text and "r2" in text

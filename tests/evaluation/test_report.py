"""Evaluation reports: metrics from any runtime, latency and JSON (the CLI draws them: tests/cli)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_digits
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelplane.errors import Invalid
from modelplane.evaluation.report import evaluate
from modelplane.runtimes.sklearn_runtime import SklearnRuntime


@pytest.fixture(scope="module")
def digits_runtime() -> tuple[SklearnRuntime, np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=200)).fit(x[:500], y[:500])
    return SklearnRuntime(pipeline, task="classification", input_shape=(64,)), x[500:800], y[500:800]


def test_classification_report(digits_runtime):
    runtime, x, y = digits_runtime
    report = evaluate(runtime, x, y, task="classification", batch_size=64, latency_samples=20)
    assert report.n_samples == 300
    whole = runtime.predict(x)["label"]
    assert report.metrics["accuracy"] == pytest.approx(float(np.mean(whole == y)))  # batching changes nothing
    assert list(report.metrics["per_class"]) == [str(i) for i in range(10)]
    assert set(report.latency) == {"batch1_p50_ms", "batch1_p95_ms", "batch256_ms_per_sample"}
    assert 0 < report.latency["batch1_p50_ms"] <= report.latency["batch1_p95_ms"]
    json.loads(json.dumps(report.to_dict(), allow_nan=False))


def test_regression_report_with_names_and_no_latency():
    x, y = load_diabetes(return_X_y=True)
    x = x.astype(np.float32)
    runtime = SklearnRuntime(
        make_pipeline(Ridge()).fit(x[:300], y[:300]), task="regression", input_shape=(10,)
    )
    report = evaluate(runtime, x[300:], y[300:], task="regression", latency_samples=0)
    assert set(report.metrics) == {"mse", "rmse", "mae", "r2"} and report.latency == {}
    json.dumps(report.to_dict(), allow_nan=False)


def test_evaluate_rejects_mismatched_targets(digits_runtime):
    runtime, x, y = digits_runtime
    with pytest.raises(Invalid, match="as many targets"):
        evaluate(runtime, x, y[:-1], task="classification")

"""The drift report: which test runs, thresholds from the deployment, quality, prediction drift, snapshot."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ks_2samp, wasserstein_distance

from modelplane.monitoring.drift import DriftReport, drift_report
from modelplane.monitoring.frames import FeatureFrame, OutputFrame, feature_frame
from modelplane.monitoring.profile import build_profile
from modelplane.monitoring.settings import MonitoringSpec

SPEC = MonitoringSpec()


def _profile(columns: dict[str, np.ndarray], outputs: OutputFrame | None = None):  # type: ignore[no-untyped-def]
    kinds = {n: ("categorical" if c.dtype == object else "numeric") for n, c in columns.items()}
    frame = FeatureFrame(columns, kinds)  # type: ignore[arg-type]
    task = "classification" if outputs is None or outputs.label is not None else "regression"
    return build_profile(
        frame, test_outputs=outputs, validation=None, task=task, test_metrics={}, version="m@1"
    )


def test_large_reference_uses_wasserstein_over_the_std_and_flags_a_half_std_shift() -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(10, 2, size=3000)
    profile = _profile({"a": train, "b": rng.normal(size=3000)})
    window = feature_frame(np.stack([rng.normal(11, 2, 5000), rng.normal(size=5000)], axis=1), None)
    window = FeatureFrame(
        {"a": window.columns["f0"], "b": window.columns["f1"]}, {"a": "numeric", "b": "numeric"}
    )
    report = drift_report(profile, window, OutputFrame(), SPEC)
    a, b = report.features
    assert (a.feature, a.test, a.p_value, a.threshold) == ("a", "wasserstein", None, 0.1)
    expected = wasserstein_distance(train, window.columns["a"]) / train.std()
    assert a.statistic == pytest.approx(expected) and a.statistic == pytest.approx(0.5, abs=0.05)
    assert a.drifted and a.score == pytest.approx(a.statistic / 0.1)
    assert not b.drifted and a.psi is not None and a.psi > b.psi  # type: ignore[operator]
    assert report.share_drifted == 0.5


def test_small_reference_uses_ks_p_values() -> None:
    rng = np.random.default_rng(1)
    train = rng.normal(size=500)
    profile = _profile({"a": train})
    moved = rng.normal(0.3, 1, size=800)
    report = drift_report(profile, FeatureFrame({"a": moved}, {"a": "numeric"}), OutputFrame(), SPEC)
    (a,) = report.features
    assert a.test == "ks" and a.p_value == pytest.approx(ks_2samp(train, moved).pvalue)
    assert a.drifted == (a.p_value < 0.05) and a.drifted


def test_thresholds_come_from_the_deployment_then_the_feature() -> None:
    rng = np.random.default_rng(2)
    profile = _profile({"a": rng.normal(size=3000), "b": rng.normal(size=3000)})
    window = FeatureFrame(
        {"a": rng.normal(0.3, 1, 4000), "b": rng.normal(0.3, 1, 4000)}, dict.fromkeys("ab", "numeric")
    )
    assert all(f.drifted for f in drift_report(profile, window, OutputFrame(), SPEC).features)
    relaxed = MonitoringSpec(drift={"wasserstein": 0.5}, feature_drift={"b": {"ks": 1e-300}})
    a, b = drift_report(profile, window, OutputFrame(), relaxed).features
    assert (a.test, a.threshold, a.drifted) == ("wasserstein", 0.5, False)
    assert (b.test, b.threshold) == ("ks", 1e-300)  # the feature's own test and threshold
    strict_psi = MonitoringSpec(drift={"wasserstein": 0.5, "psi": 0.01})
    assert all(f.drifted for f in drift_report(profile, window, OutputFrame(), strict_psi).features)


def test_near_constant_and_constant_features_do_not_false_alarm() -> None:
    rng = np.random.default_rng(3)
    rare = np.where(rng.random(2000) < 0.001, 16.0, 0.0)  # a digits edge pixel: almost always 0
    rare[:2] = 16.0
    profile = _profile({"rare": rare, "zero": np.zeros(2000)})
    assert profile.features["rare"].std < 0.1 * 16  # type: ignore[operator]
    stray = np.zeros(5000)
    stray[:3] = 7.0  # a digits corner pixel, always 0 in training, with three stray values
    window = FeatureFrame(
        {"rare": np.where(rng.random(5000) < 0.003, 16.0, 0.0), "zero": stray},
        dict.fromkeys(["rare", "zero"], "numeric"),
    )
    report = drift_report(profile, window, OutputFrame(), SPEC)
    assert [f.drifted for f in report.features] == [False, False]
    assert all(np.isfinite(f.statistic) for f in report.features)
    assert report.quality.out_of_range_rate == pytest.approx(3 / 10_000)
    moved = np.where(rng.random(1000) < 0.2, 1.0, 0.0)  # a fifth of the rows now light it
    shifted = FeatureFrame({"rare": rare[:1000] + 0.5 * rare.std(), "zero": moved}, window.kinds)
    assert [f.drifted for f in drift_report(profile, shifted, OutputFrame(), SPEC).features] == [True, True]


def test_categorical_tests_and_data_quality() -> None:
    rng = np.random.default_rng(4)
    colours = np.array(["red", "green", "blue"], dtype=object)
    small = _profile({"c": colours[rng.integers(0, 3, 600)], "x": rng.uniform(0, 1, 600)})
    window_c = np.array(["red"] * 300 + ["green"] * 50 + ["purple"] * 50 + [None] * 100, dtype=object)
    window_x = np.concatenate([rng.uniform(0.1, 0.9, 400), [5.0, -1.0], [np.nan] * 98])
    window = FeatureFrame({"c": window_c, "x": window_x}, {"c": "categorical", "x": "numeric"})
    report = drift_report(small, window, OutputFrame(), SPEC)
    c = report.features[0]
    assert c.test == "chi2" and c.drifted and c.p_value is not None and c.p_value < 1e-10
    assert report.quality.missing_rate == pytest.approx(198 / 1000)
    assert report.quality.unseen_rate == pytest.approx(50 / 400)
    assert report.quality.out_of_range_rate == pytest.approx(2 / 402)
    large = _profile({"c": colours[rng.integers(0, 3, 3000)]})
    (js,) = drift_report(
        large, FeatureFrame({"c": window_c}, {"c": "categorical"}), OutputFrame(), SPEC
    ).features
    assert js.test == "jensenshannon" and js.drifted and js.p_value is None


def test_prediction_drift_and_snapshot_names() -> None:
    rng = np.random.default_rng(5)
    classes = ["0", "1"]
    answers = OutputFrame(label=np.array(["0"] * 300 + ["1"] * 300, dtype=object), classes=classes)
    profile = _profile({"a": rng.normal(size=600)}, answers)
    now = OutputFrame(
        label=np.array(["0"] * 900 + ["1"] * 100, dtype=object),
        probabilities=np.tile([0.9, 0.1], (1000, 1)),
        classes=classes,
    )
    report = drift_report(profile, FeatureFrame({"a": rng.normal(size=1000)}, {"a": "numeric"}), now, SPEC)
    assert report.prediction is not None and report.prediction.test == "chi2" and report.prediction.drifted
    snapshot = report.snapshot()
    assert set(snapshot) == {
        "drift",
        "drift_max",
        "prediction_drift",
        "feature_drift.a",
        "missing_rate",
        "out_of_range_rate",
    }
    assert snapshot["prediction_drift"] == report.prediction.statistic
    assert snapshot["drift"] == report.share_drifted and report.rows == 1000
    regression = _profile({"a": rng.normal(size=600)}, OutputFrame(prediction=rng.normal(size=600)))
    moved = drift_report(
        regression, FeatureFrame({}, {}), OutputFrame(prediction=rng.normal(2, 1, 700)), SPEC
    )
    assert moved.prediction is not None and moved.prediction.test == "ks" and moved.prediction.drifted
    assert moved.share_drifted is None and "drift" not in moved.snapshot()


def test_report_round_trips_json() -> None:
    rng = np.random.default_rng(6)
    profile = _profile({"a": rng.normal(size=2000)})
    report = drift_report(
        profile, FeatureFrame({"a": rng.normal(size=300)}, {"a": "numeric"}), OutputFrame(), SPEC
    )
    assert DriftReport.model_validate_json(report.model_dump_json()) == report

"""Accuracy estimated from calibrated confidence."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from modelplane.monitoring.estimate import estimated_accuracy
from modelplane.monitoring.frames import FeatureFrame, OutputFrame
from modelplane.monitoring.profile import build_profile, fit_calibration


def test_calibration_is_sklearns_isotonic_fit() -> None:
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.3, 1.0, 500)
    correct = rng.random(500) < confidence**2  # overconfident: right less often than it says
    calibration = fit_calibration(confidence, correct)
    reference = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(confidence, correct)
    probe = np.array([0.1, 0.35, 0.5, 0.8, 0.99, 1.0])
    np.testing.assert_allclose(calibration(probe), reference.predict(probe))


def test_estimated_accuracy_is_the_mean_calibrated_confidence() -> None:
    rng = np.random.default_rng(1)
    n = 4000
    confidence = rng.uniform(0.5, 1.0, n)
    probabilities = np.stack([confidence, 1 - confidence], axis=1)
    labels = np.array(["a"] * n, dtype=object)
    truth = np.where(rng.random(n) < confidence**2, "a", "b").astype(object)
    answers = OutputFrame(label=labels, probabilities=probabilities, classes=["a", "b"])
    frame = FeatureFrame({"x": rng.normal(size=n)}, {"x": "numeric"})
    profile = build_profile(
        frame, test_outputs=answers, validation=(answers, truth), task="classification", test_metrics={}
    )
    window = rng.uniform(0.5, 1.0, 3000)
    estimate = estimated_accuracy(profile, np.stack([1 - window, window], axis=1))  # max-probability is used
    assert estimate == pytest.approx(np.mean(window**2), abs=0.02)
    # the raw confidence would overstate it
    assert np.mean(window) - estimate > 0.05  # type: ignore[operator]
    bare = build_profile(frame, test_outputs=answers, validation=None, task="classification", test_metrics={})
    assert estimated_accuracy(bare, probabilities) is None
    assert estimated_accuracy(profile, np.zeros((0, 2))) is None

"""Accuracy estimated before labels arrive. Confidence-based performance estimation (as NannyML's CBPE):
the model's max probability, calibrated on the validation split at training time, is the chance each
answer is right; its mean over a window is the window's expected accuracy. Where the profile also has a
shift calibration and the window its numeric features, each row's chance is read from its confidence AND
its distance to the training rows AND how many of its nearest training rows carry the answer's label
(shift_calibration.py), so corrupted inputs that leave a network confident still lower the estimate."""

from __future__ import annotations

import numpy as np

from modelplane.monitoring.atypicality import Atypicality
from modelplane.monitoring.frames import FeatureFrame
from modelplane.monitoring.profile import ReferenceProfile

ESTIMATE_ROWS = 5000  # window rows whose distance is measured, seeded: the mean's error stays < 1 point


def estimated_accuracy(
    profile: ReferenceProfile,
    probabilities: np.ndarray,
    window: FeatureFrame | None = None,
    labels: np.ndarray | None = None,
) -> float | None:
    """The window's expected accuracy from its answers' probabilities (N, classes) and, where given, its
    rows (`window`) and answered `labels` (class names), the same N; None without a calibration (a
    regressor, an import without validation data) or without rows."""
    if profile.calibration is None or probabilities is None or len(probabilities) == 0:
        return None
    confidence = np.asarray(probabilities, dtype=np.float64).max(axis=1)
    shift = profile.shift_calibration
    atypicality = Atypicality.of(profile) if shift is not None else None
    if (
        shift is None
        or atypicality is None
        or window is None
        or labels is None
        or len(window) != len(confidence)
        or len(labels) != len(confidence)
        or not atypicality.covers(window)
    ):
        return float(np.mean(profile.calibration(confidence)))
    if len(window) > ESTIMATE_ROWS:
        rows = np.sort(np.random.default_rng(0).choice(len(window), ESTIMATE_ROWS, replace=False))
        window, confidence, labels = window.take(rows), confidence[rows], np.asarray(labels)[rows]
    return float(np.mean(shift(confidence, *atypicality.measure(window, labels))))

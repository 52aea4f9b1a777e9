"""Accuracy estimated before labels arrive (confidence-based performance estimation, as NannyML's CBPE):
the model's max probability, calibrated on the validation split at training time, is the chance each
answer is right; its mean over a window is the window's expected accuracy."""

from __future__ import annotations

import numpy as np

from modelplane.monitoring.profile import ReferenceProfile


def estimated_accuracy(profile: ReferenceProfile, probabilities: np.ndarray) -> float | None:
    """Mean calibrated max-probability of the rows (N, classes); None without a calibration map (a
    regressor, an import without validation data) or without rows."""
    if profile.calibration is None or probabilities is None or len(probabilities) == 0:
        return None
    confidence = np.asarray(probabilities, dtype=np.float64).max(axis=1)
    return float(np.mean(profile.calibration(confidence)))

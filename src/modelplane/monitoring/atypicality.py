"""How unlike the training data each row is, and whether its nearest training rows agree with the model:
the mean distance to its `NEIGHBOURS` nearest training rows, in units of each feature's training spread,
and the share of those rows whose label is the model's answer. Confidence alone cannot say a window went
wrong when a network grows MORE confident on noisy inputs (the digits MLP and CNN do); the distance rises
with the corruption whatever the model says, and the neighbours' labels are a second opinion on the
answer, so accuracy estimation reads all three (shift_calibration.py).

The training rows are the profile's seeded sample (numeric features only) and its labels, so nothing
beyond the profile is stored and both measures are the same at calibration time and in the monitor job."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modelplane.monitoring.frames import FeatureFrame
from modelplane.monitoring.profile import ReferenceProfile

NEIGHBOURS = 5
REFERENCE_ROWS = 2000  # of the profile's sample, evenly strided: bounds the work per window row
SPREAD_FLOOR_SHARE = 0.1  # of the median spread, so a constant training feature does not divide by 0
CHUNK_ROWS = 1024  # window rows per distance block (CHUNK_ROWS x REFERENCE_ROWS float64 = 16 MB)


@dataclass(frozen=True)
class Atypicality:
    names: list[str]
    mean: np.ndarray  # per feature
    spread: np.ndarray  # per feature, floored
    reference: np.ndarray  # (rows, features), standardised
    labels: np.ndarray  # (rows,) class names

    @classmethod
    def of(cls, profile: ReferenceProfile) -> Atypicality | None:
        """From the profile's numeric features, sample and sample labels; None without a numeric feature,
        enough sample rows, or their labels (a regressor, a profile from before the labels were kept)."""
        names = [n for n, f in profile.features.items() if f.kind == "numeric" and f.std is not None]
        labels = profile.sample_labels
        if (
            not names
            or len(profile.sample) < NEIGHBOURS
            or labels is None
            or len(labels) != len(profile.sample)
        ):
            return None
        mean = np.array([profile.features[n].mean for n in names], dtype=np.float64)
        std = np.array([profile.features[n].std for n in names], dtype=np.float64)
        positive = std[std > 0]
        floor = SPREAD_FLOOR_SHARE * float(np.median(positive)) if len(positive) else 1.0
        spread = np.maximum(std, floor)
        stride = -(-len(profile.sample) // REFERENCE_ROWS)
        rows = np.stack([profile.sample.columns[n][::stride] for n in names], axis=1)
        strided = np.asarray(labels, dtype=object)[::stride]
        return cls(names, mean, spread, _standardised(rows, mean, spread), strided)

    def covers(self, window: FeatureFrame) -> bool:
        return all(n in window.columns for n in self.names)

    def measure(self, window: FeatureFrame, answers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row of `window`: log1p of the mean root-mean-square standardised distance to its
        `NEIGHBOURS` nearest reference rows (a missing value counts as the training mean), and the share
        of those rows labelled with the row's `answers` (class names)."""
        rows = np.stack([np.asarray(window.columns[n], dtype=np.float64) for n in self.names], axis=1)
        z = _standardised(rows, self.mean, self.spread)
        answers = np.asarray(answers).astype(str).astype(object)
        reference_norms = np.einsum("ij,ij->i", self.reference, self.reference)
        distance, agreement = np.empty(len(z)), np.empty(len(z))
        for start in range(0, len(z), CHUNK_ROWS):
            block = z[start : start + CHUNK_ROWS]
            squared = np.einsum("ij,ij->i", block, block)[:, None] + reference_norms[None, :]
            squared -= 2.0 * block @ self.reference.T
            np.maximum(squared, 0.0, out=squared)
            nearest = np.argpartition(squared, NEIGHBOURS - 1, axis=1)[:, :NEIGHBOURS]
            found = np.take_along_axis(squared, nearest, axis=1)
            distance[start : start + CHUNK_ROWS] = np.sqrt(found / len(self.names)).mean(axis=1)
            agree = self.labels[nearest] == answers[start : start + CHUNK_ROWS, None]
            agreement[start : start + CHUNK_ROWS] = agree.mean(axis=1)
        return np.log1p(distance), agreement


def _standardised(rows: np.ndarray, mean: np.ndarray, spread: np.ndarray) -> np.ndarray:
    z = (rows - mean) / spread
    z[np.isnan(z)] = 0.0
    result: np.ndarray = z
    return result

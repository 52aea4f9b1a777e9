"""How unlike the training data each row is: the mean distance to its nearest training rows, in units of
each feature's training spread. Confidence alone cannot say a window went wrong when a network grows MORE
confident on noisy inputs (the digits MLP and CNN do); this distance rises with the corruption whatever
the model says, so accuracy estimation reads both (shift_calibration.py).

The training rows are the profile's seeded sample (numeric features only), so nothing beyond the profile
is stored and the distance is the same at calibration time and in the monitor job."""

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

    @classmethod
    def of(cls, profile: ReferenceProfile) -> Atypicality | None:
        """From the profile's numeric features and sample; None without a numeric feature or sample row."""
        names = [n for n, f in profile.features.items() if f.kind == "numeric" and f.std is not None]
        if not names or len(profile.sample) < NEIGHBOURS:
            return None
        mean = np.array([profile.features[n].mean for n in names], dtype=np.float64)
        std = np.array([profile.features[n].std for n in names], dtype=np.float64)
        positive = std[std > 0]
        floor = SPREAD_FLOOR_SHARE * float(np.median(positive)) if len(positive) else 1.0
        spread = np.maximum(std, floor)
        stride = -(-len(profile.sample) // REFERENCE_ROWS)
        rows = np.stack([profile.sample.columns[n][::stride] for n in names], axis=1)
        return cls(names, mean, spread, _standardised(rows, mean, spread))

    def covers(self, window: FeatureFrame) -> bool:
        return all(n in window.columns for n in self.names)

    def distance(self, window: FeatureFrame) -> np.ndarray:
        """Per row: log1p of the mean root-mean-square standardised distance to its `NEIGHBOURS` nearest
        reference rows. A missing value counts as the training mean."""
        rows = np.stack([np.asarray(window.columns[n], dtype=np.float64) for n in self.names], axis=1)
        z = _standardised(rows, self.mean, self.spread)
        reference_norms = np.einsum("ij,ij->i", self.reference, self.reference)
        out = np.empty(len(z))
        for start in range(0, len(z), CHUNK_ROWS):
            block = z[start : start + CHUNK_ROWS]
            squared = np.einsum("ij,ij->i", block, block)[:, None] + reference_norms[None, :]
            squared -= 2.0 * block @ self.reference.T
            nearest = np.partition(np.maximum(squared, 0.0), NEIGHBOURS - 1, axis=1)[:, :NEIGHBOURS]
            out[start : start + CHUNK_ROWS] = np.sqrt(nearest / len(self.names)).mean(axis=1)
        result: np.ndarray = np.log1p(out)
        return result


def _standardised(rows: np.ndarray, mean: np.ndarray, spread: np.ndarray) -> np.ndarray:
    z = (rows - mean) / spread
    z[np.isnan(z)] = 0.0
    result: np.ndarray = z
    return result

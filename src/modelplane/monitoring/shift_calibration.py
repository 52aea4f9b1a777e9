"""P(answer is right | confidence, distance, agreement), learned at profile time from the validation split
AND corrupted copies of it, so the estimate falls when inputs drift away from the training data even where
the model's confidence does not (confidence-only CBPE put a noisy digits CNN at 95 % while it scored 18 %).
Distance and agreement are atypicality.py's: how far a row is from its nearest training rows, and how many
of those carry the label the model answered.

Fitting: validation rows get uniform noise of strengths `STRENGTHS` x each feature's training spread
(floored at the median spread, so constant features such as a digit's border pixels are corrupted too),
clipped to the span of all training values; the model answers every copy; a gradient-boosted classifier,
monotone (more confident, or more neighbours agreeing -> more often right; farther -> less often), maps
the three to correct. It is stored as its values on a grid (no pickle) and read by linear interpolation. Noise
families other than the one fitted (salt and pepper, a constant offset) are measured in bench/monitor.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from modelplane.monitoring.atypicality import NEIGHBOURS, Atypicality
from modelplane.monitoring.frames import MAX_FEATURES, feature_frame, tensor_feature_names
from modelplane.monitoring.profile import ReferenceProfile, ShiftCalibration
from modelplane.tables.signature import TableSignature

STRENGTHS = (0.0,) * 5 + (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.2, 1.6, 2.4)
FIT_ROWS = 10_000  # corrupted validation rows answered at profile time, at most
CONFIDENCE_GRID = 21
DISTANCE_GRID = 25  # quantiles of the fitted distances

Predict = Callable[[np.ndarray], dict[str, np.ndarray]]
log = logging.getLogger(__name__)


def fit_shift_calibration(
    confidence: np.ndarray, distance: np.ndarray, agreement: np.ndarray, correct: np.ndarray
) -> ShiftCalibration:
    """The monotone boosted fit of `correct` on (confidence, distance, agreement), tabulated on a grid:
    confidence in steps of 0.05, the fitted distances' quantiles, every possible agreement share."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    features = np.stack([confidence, distance, agreement], axis=1)
    model = HistGradientBoostingClassifier(max_depth=3, monotonic_cst=[1, -1, 1], random_state=0)
    model.fit(features, correct.astype(np.int64))
    confidences = np.linspace(0.0, 1.0, CONFIDENCE_GRID)
    distances = np.unique(np.quantile(distance, np.linspace(0.0, 1.0, DISTANCE_GRID)))
    if len(distances) == 1:
        distances = np.array([distances[0], distances[0] + 1.0])
    agreements = np.linspace(0.0, 1.0, NEIGHBOURS + 1)
    axes = (confidences, distances, agreements)
    mesh = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    right = list(model.classes_).index(1) if 1 in model.classes_ else None
    odds = model.predict_proba(mesh)[:, right] if right is not None else np.zeros(len(mesh))
    # four decimals of a probability are plenty, and keep the profile's JSON small (3,150 values)
    values = np.round(odds.reshape(tuple(len(axis) for axis in axes)), 4)
    return ShiftCalibration(
        confidence=confidences.tolist(),
        distance=distances.tolist(),
        agreement=agreements.tolist(),
        values=values.tolist(),
    )


def with_shift_calibration(
    profile: ReferenceProfile,
    predict: Predict,
    validation: np.ndarray,
    truth: np.ndarray,
    table: TableSignature | None,
    seed: int = 0,
) -> ReferenceProfile:
    """`profile` with a shift calibration fitted on corrupted copies of `validation` (the model's inputs)
    whose true labels are the model's class indices `truth`; unchanged where the profile has no numeric
    feature to measure distance on, or the inputs are too wide to log per feature."""
    atypicality = Atypicality.of(profile)
    classes = profile.outputs.classes if profile.outputs is not None else []
    if atypicality is None or not classes or len(validation) == 0 or not _perturbable(validation, table):
        return profile
    names = np.asarray(classes, dtype=object)
    rng = np.random.default_rng(seed)
    span = (
        min(profile.features[n].low or 0.0 for n in atypicality.names),
        max(profile.features[n].high or 0.0 for n in atypicality.names),
    )
    repeats = max(1, FIT_ROWS // (len(validation) * len(STRENGTHS)))
    if len(validation) * len(STRENGTHS) > FIT_ROWS:
        validation, truth = _subsample(validation, truth, FIT_ROWS // len(STRENGTHS), rng)
    columns: tuple[list[np.ndarray], ...] = ([], [], [], [])  # confidence, distance, agreement, correct
    clean: tuple[np.ndarray, ...] | None = None  # the uncorrupted rows' parts: the same every time
    for _ in range(repeats):
        for strength in STRENGTHS:
            parts = clean if strength == 0.0 else None
            if parts is None:
                corrupted = _corrupt(validation, table, profile, strength, span, rng)
                try:
                    answers = predict(corrupted)
                except Exception as exc:  # a model may refuse inputs far outside its training range
                    log.warning(
                        "%s: no shift calibration (the model refused corrupted validation rows: %s: %s); "
                        "its accuracy is estimated from confidence alone",
                        profile.version or "a version",
                        type(exc).__name__,
                        exc,
                    )
                    return profile
                label = np.asarray(answers["label"], dtype=np.int64)
                far, agree = atypicality.measure(feature_frame(corrupted, table), names[label])
                confidence = np.asarray(answers["probabilities"], dtype=np.float64).max(axis=1)
                parts = (confidence, far, agree, label == truth)
                if strength == 0.0:
                    clean = parts
            for column, part in zip(columns, parts, strict=True):
                column.append(part)
    fitted = fit_shift_calibration(*map(np.concatenate, columns))
    return replace(profile, shift_calibration=fitted)


def _perturbable(x: np.ndarray, table: TableSignature | None) -> bool:
    if x.dtype.names is not None:
        return table is not None and any(block != "categorical" for block in x.dtype.names)
    return int(np.prod(x.shape[1:])) <= MAX_FEATURES and np.issubdtype(x.dtype, np.floating)


def _subsample(
    x: np.ndarray, truth: np.ndarray, rows: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    picked = np.sort(rng.choice(len(x), rows, replace=False))
    return x[picked], truth[picked]


def _noise(
    values: np.ndarray,
    names: list[str],
    profile: ReferenceProfile,
    strength: float,
    span: tuple[float, float],
    rng: np.random.Generator,
) -> np.ndarray:
    """`values` (rows, len(names)) with uniform noise of `strength` spreads (variance strength^2 x
    spread^2), clipped to `span`; features the profile does not know are left alone."""
    known = np.array([n in profile.features for n in names])
    if not known.any():
        return values
    spreads = np.array([(profile.features[n].std or 0.0) if n in profile.features else 0.0 for n in names])
    spreads = np.where(known, np.maximum(spreads, float(np.median(spreads[known]))), 0.0)
    noisy = values + rng.uniform(-1.0, 1.0, values.shape) * (strength * np.sqrt(3.0)) * spreads
    return np.where(known, np.clip(noisy, *span), values)


def _corrupt(
    x: np.ndarray,
    table: TableSignature | None,
    profile: ReferenceProfile,
    strength: float,
    span: tuple[float, float],
    rng: np.random.Generator,
) -> np.ndarray:
    """A copy of the model inputs `x` with its numeric features corrupted (see `_noise`)."""
    if strength == 0.0:
        return x
    if x.dtype.names is None:
        flat = x.reshape(len(x), -1).astype(np.float64)
        names = tensor_feature_names(flat.shape[1], table)
        return _noise(flat, names, profile, strength, span, rng).astype(x.dtype).reshape(x.shape)
    assert table is not None
    out = x.copy()
    for block in x.dtype.names:
        if block != "categorical":
            names = [column.name for column in table.block(block)]
            out[block] = _noise(x[block].astype(np.float64), names, profile, strength, span, rng)
    return out

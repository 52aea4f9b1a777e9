"""Accuracy estimated from confidence AND the nearest training rows (their distance, and whether their labels
agree with the answer): the two measures, the stored grid, the fit, and a model that stays confident on
corrupted inputs."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.neighbors import NearestNeighbors

from modelplane.monitoring.atypicality import NEIGHBOURS, Atypicality
from modelplane.monitoring.estimate import estimated_accuracy
from modelplane.monitoring.frames import FeatureFrame, OutputFrame, feature_frame
from modelplane.monitoring.profile import PROFILE_KEY, ReferenceProfile, ShiftCalibration, build_profile
from modelplane.monitoring.shift_calibration import fit_shift_calibration, with_shift_calibration

FEATURES = 16


def _blobs(rows: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two classes, means -0.6 / +0.6 on every feature, unit spread."""
    y = rng.integers(0, 2, rows)
    return (rng.normal(size=(rows, FEATURES)) + 0.6 * (2 * y - 1)[:, None]).astype(np.float32), y


def _overconfident(x: np.ndarray) -> dict[str, np.ndarray]:
    """A linear classifier whose probabilities saturate: noise flips its answers, not its confidence."""
    score = 20.0 * x.reshape(len(x), -1).sum(axis=1).astype(np.float64)
    positive = 1.0 / (1.0 + np.exp(-np.clip(score, -50, 50)))
    return {"label": (score > 0).astype(np.int64), "probabilities": np.stack([1 - positive, positive], 1)}


def _answers(x: np.ndarray) -> OutputFrame:
    predicted = _overconfident(x)
    labels = np.array(["a", "b"], dtype=object)[predicted["label"]]
    return OutputFrame(label=labels, probabilities=predicted["probabilities"], classes=["a", "b"])


def _bare_profile(
    rng: np.random.Generator, train_rows: int = 3000, validation_rows: int = 600
) -> tuple[ReferenceProfile, np.ndarray, np.ndarray]:
    """The blobs' profile without a shift calibration, and its validation rows and labels."""
    train, y_train = _blobs(train_rows, rng)
    x_val, y_val = _blobs(validation_rows, rng)
    names = np.array(["a", "b"], dtype=object)
    profile = build_profile(
        feature_frame(train),
        test_outputs=_answers(x_val),
        validation=(_answers(x_val), names[y_val]),
        task="classification",
        test_metrics={},
        version="blobs@1",
        train_labels=names[y_train],
    )
    return profile, x_val, y_val


def _profile(rng: np.random.Generator) -> tuple[ReferenceProfile, np.ndarray, np.ndarray]:
    """The blobs' profile with its shift calibration, and the validation rows it was fitted on."""
    profile, x_val, y_val = _bare_profile(rng)
    return with_shift_calibration(profile, _overconfident, x_val, y_val, None), x_val, y_val


def test_distance_and_agreement_are_read_off_the_nearest_standardised_training_rows() -> None:
    rng = np.random.default_rng(0)
    train = rng.normal([0, 10, 100], [1, 5, 0], size=(500, 3))  # the third feature is constant
    train_labels = np.where(train[:, 0] > 0, "up", "down")
    frame = feature_frame(train)
    unlabelled = build_profile(
        frame, test_outputs=None, validation=None, task="classification", test_metrics={}
    )
    assert Atypicality.of(unlabelled) is None  # no labels kept: no agreement to read
    profile = build_profile(
        frame,
        test_outputs=None,
        validation=None,
        task="classification",
        test_metrics={},
        train_labels=train_labels,
    )
    atypicality = Atypicality.of(profile)
    assert atypicality is not None
    spread = np.maximum(train.std(axis=0), 0.1 * np.median([1.0, 5.0]))  # the floor: 0.1 x median spread
    assert atypicality.spread == pytest.approx(spread, rel=0.05)
    window = rng.normal([0, 10, 100], [3, 15, 2], size=(300, 3))
    window[0, 1] = np.nan  # missing: counted as the training mean
    standard = (window - atypicality.mean) / atypicality.spread
    standard[0, 1] = 0.0
    nearest = NearestNeighbors(n_neighbors=NEIGHBOURS).fit(atypicality.reference)
    found, which = nearest.kneighbors(standard)
    expected = np.log1p((found / np.sqrt(3)).mean(axis=1))
    answers = np.where(rng.random(300) < 0.5, "up", "down")
    distance, agreement = atypicality.measure(feature_frame(window), answers)
    np.testing.assert_allclose(distance, expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(agreement, (train_labels[which] == answers[:, None]).mean(axis=1))
    # training rows sit close to the training rows, among rows of their own label; the wider window, farther
    near, agreeing = atypicality.measure(feature_frame(train[:300]), train_labels[:300])
    assert np.median(near) < np.median(expected) and agreeing.mean() > 0.9


def test_the_grid_reads_by_linear_interpolation_and_clips_at_its_edges() -> None:
    # agreement 1 holds twice the values at agreement 0
    low = [[0.2, 0.0], [0.5, 0.1]]
    grid = ShiftCalibration(
        confidence=[0.5, 1.0],
        distance=[0.0, 2.0],
        agreement=[0.0, 1.0],
        values=[[[v, 2 * v] for v in row] for row in low],
    )
    confidence = np.array([0.5, 1.0, 0.75, 0.75, 0.2, 1.0, 0.75])
    distance = np.array([0.0, 2.0, 0.0, 1.0, 0.0, 9.0, 1.0])
    agreement = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5])
    # corners; halfway along confidence; the centre; below the grid = its edge; beyond = its edge; the
    # centre of the cube
    expected = [0.4, 0.2, 0.7, 0.4, 0.4, 0.2, 0.3]
    np.testing.assert_allclose(grid(confidence, distance, agreement), expected)


def test_the_fit_is_monotone_in_each_input() -> None:
    rng = np.random.default_rng(1)
    confidence = rng.uniform(0.3, 1.0, 8000)
    distance = rng.uniform(0.0, 3.0, 8000)
    agreement = rng.integers(0, NEIGHBOURS + 1, 8000) / NEIGHBOURS
    correct = rng.random(8000) < confidence * np.exp(-distance) * (0.5 + 0.5 * agreement)
    fitted = fit_shift_calibration(confidence, distance, agreement, correct)
    values = np.asarray(fitted.values)
    assert (np.diff(values, axis=0) >= -1e-9).all()  # more confident: never less often right
    assert (np.diff(values, axis=1) <= 1e-9).all()  # farther from the training rows: never more often
    assert (np.diff(values, axis=2) >= -1e-9).all()  # more neighbours agreeing: never less often
    assert fitted.distance[0] == pytest.approx(distance.min()) and fitted.distance[-1] == pytest.approx(
        distance.max()
    )
    assert fitted.agreement == pytest.approx([i / NEIGHBOURS for i in range(NEIGHBOURS + 1)])
    assert values[-1, 0, -1] > 0.8 and values[-1, -1, -1] < 0.2 and values[-1, 0, 0] < values[-1, 0, -1]


def test_a_confident_model_on_corrupted_inputs_is_estimated_nearer_its_true_accuracy() -> None:
    rng = np.random.default_rng(2)
    profile, _, _ = _profile(rng)
    assert profile.shift_calibration is not None
    for sigma in (0.0, 1.0, 2.0, 3.0):  # Gaussian noise: not the (uniform) family the fit corrupts with
        x, y = _blobs(4000, rng)
        window = x + rng.normal(0, sigma, x.shape).astype(np.float32)
        answers = _overconfident(window)
        true = float(np.mean(answers["label"] == y))
        labels = np.array(["a", "b"], dtype=object)[answers["label"]]
        estimate = estimated_accuracy(profile, answers["probabilities"], feature_frame(window), labels)
        confidence_only = estimated_accuracy(profile, answers["probabilities"])
        assert estimate is not None and confidence_only is not None
        if sigma <= 2.0:  # inside the strengths fitted (up to 2.4 spreads of uniform noise)
            assert abs(estimate - true) < 0.03, (sigma, estimate, true)
        else:  # beyond them the grid's edge holds the estimate up, but it still falls most of the way
            assert abs(estimate - true) < 0.5 * (confidence_only - true), (sigma, estimate, true)
        if sigma >= 2.0:  # where the confidence alone misses the drop
            assert confidence_only - true > 0.1


def test_without_the_features_or_the_grid_the_estimate_is_the_confidence_only_one() -> None:
    rng = np.random.default_rng(3)
    profile, x_val, _ = _profile(rng)
    answers = _overconfident(x_val + 3.0)
    probabilities = answers["probabilities"]
    labels = np.array(["a", "b"], dtype=object)[answers["label"]]
    confidence_only = estimated_accuracy(profile, probabilities)
    window = feature_frame(x_val + 3.0)
    assert estimated_accuracy(profile, probabilities, window, labels) != confidence_only
    partial = FeatureFrame({n: c for n, c in window.columns.items() if n != "f0"}, {})
    assert estimated_accuracy(profile, probabilities, partial, labels) == confidence_only
    fewer_rows = feature_frame(x_val[:10])
    assert estimated_accuracy(profile, probabilities, fewer_rows, labels) == confidence_only
    assert estimated_accuracy(profile, probabilities, window) == confidence_only  # no answered labels
    # profiles written before the grid existed, or with its first two-input form, read back without one
    data = profile.to_bytes()
    assert ReferenceProfile.from_bytes(data).shift_calibration == profile.shift_calibration
    assert ReferenceProfile.from_bytes(data).sample_labels == profile.sample_labels
    for older in (_rewritten(data, drop="shift_calibration"), _rewritten(data, drop="agreement")):
        again = ReferenceProfile.from_bytes(older)
        assert again.shift_calibration is None and again.calibration == profile.calibration
        assert estimated_accuracy(again, probabilities, window, labels) == confidence_only


def _rewritten(data: bytes, drop: str) -> bytes:
    """A profile file with `drop` taken out of its summary (or out of its shift calibration)."""
    table = pq.read_table(pa.BufferReader(data))
    summary = json.loads(table.schema.metadata[PROFILE_KEY])
    del (summary if drop in summary else summary["shift_calibration"])[drop]
    older = table.replace_schema_metadata({PROFILE_KEY: json.dumps(summary).encode()})
    sink = pa.BufferOutputStream()
    pq.write_table(older, sink)
    return bytes(sink.getvalue().to_pybytes())


def test_a_model_that_refuses_corrupted_rows_keeps_its_profile_without_the_grid(
    caplog: pytest.LogCaptureFixture,
) -> None:
    profile, x_val, y_val = _bare_profile(np.random.default_rng(4), 500, 100)

    def strict(x: np.ndarray) -> dict[str, np.ndarray]:
        if np.abs(x).max() > np.abs(x_val).max():
            raise ValueError("input out of range")
        return _overconfident(x)

    kept = with_shift_calibration(profile, strict, x_val, y_val, None)
    assert kept.shift_calibration is None and kept.calibration == profile.calibration
    assert "blobs@1: no shift calibration" in caplog.text and "input out of range" in caplog.text

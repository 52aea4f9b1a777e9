"""A model version's reference profile: what its training data and its answers looked like, so a window of
served rows can be compared with it.

Per feature: quantile bins (numeric) or category frequencies, missing rate, min/max, mean, std; a seeded
sample of at most `SAMPLE_ROWS` training rows for the two-sample tests (and, for classifiers, their
labels); the distribution of the model's answers on the test split; for classifiers, an isotonic
calibration map (max probability -> correct) fitted on the validation split, kept as its x/y thresholds
(no pickle), and where the inputs have numeric features a shift calibration ((max probability, distance
to the nearest training rows, how many of those carry the answer's label) -> correct, as a grid, see
shift_calibration.py). It travels as ONE Parquet file: the sample rows as columns, the summary as JSON in
the schema metadata (`to_bytes` / `from_bytes`).
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from modelplane.monitoring.frames import FeatureFrame, FeatureKind, OutputFrame

SAMPLE_ROWS = 5000
BINS = 10
PROFILE_KEY = b"modelplane.profile"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class FeatureProfile:
    """One training column. Numeric: `low`/`high` (min/max), `mean`, `std`, `edges` (the inner quantile
    edges of up to `BINS` bins) and `bins` (the training share in each). Categorical: `categories`
    (category -> share of non-missing values)."""

    name: str
    kind: FeatureKind
    missing_rate: float
    low: float | None = None
    high: float | None = None
    mean: float | None = None
    std: float | None = None
    edges: list[float] = field(default_factory=list)
    bins: list[float] = field(default_factory=list)
    categories: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class OutputProfile:
    """The model's answers on the test split: class shares by class name (classifier) or a sample of the
    predicted values, first output (regressor)."""

    task: str
    rows: int
    classes: list[str] = field(default_factory=list)
    class_shares: dict[str, float] = field(default_factory=dict)
    values: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Calibration:
    """Isotonic regression of max probability -> P(correct), as its thresholds (np.interp evaluates it,
    clipping outside like IsotonicRegression(out_of_bounds="clip"))."""

    x: list[float]
    y: list[float]

    def __call__(self, confidence: np.ndarray) -> np.ndarray:
        result: np.ndarray = np.interp(confidence, self.x, self.y)
        return result


@dataclass(frozen=True)
class ShiftCalibration:
    """P(correct) given max probability, distance and agreement (atypicality.py) on the grid
    `confidence` x `distance` x `agreement` (values[i][j][k]), read by linear interpolation; outside the
    grid, its nearest edge."""

    confidence: list[float]
    distance: list[float]
    agreement: list[float]
    values: list[list[list[float]]]

    def __call__(self, confidence: np.ndarray, distance: np.ndarray, agreement: np.ndarray) -> np.ndarray:
        from scipy.interpolate import RegularGridInterpolator

        grid = tuple(np.asarray(axis) for axis in (self.confidence, self.distance, self.agreement))
        lookup = RegularGridInterpolator(grid, np.asarray(self.values), method="linear")
        points = np.stack(
            [
                np.clip(v, axis[0], axis[-1])
                for v, axis in zip((confidence, distance, agreement), grid, strict=True)
            ],
            axis=1,
        )
        result: np.ndarray = lookup(points)
        return result


@dataclass(frozen=True)
class ReferenceProfile:
    task: str
    rows: int  # training rows the summary describes (the sample may hold fewer)
    features: dict[str, FeatureProfile]
    sample: FeatureFrame
    sample_labels: list[str] | None = None  # a classifier's training labels of the sample rows
    outputs: OutputProfile | None = None
    calibration: Calibration | None = None
    shift_calibration: ShiftCalibration | None = None  # shift_calibration.py; absent in older profiles
    test_metrics: dict[str, Any] = field(default_factory=dict)
    version: str = ""
    source: str = ""  # what the training rows were: "digits@1 train split", "reference file", ...

    def to_bytes(self) -> bytes:
        summary = {
            "format": FORMAT_VERSION,
            "task": self.task,
            "rows": self.rows,
            "sample_labels": self.sample_labels,
            "features": [asdict(f) for f in self.features.values()],
            "outputs": asdict(self.outputs) if self.outputs else None,
            "calibration": asdict(self.calibration) if self.calibration else None,
            "shift_calibration": asdict(self.shift_calibration) if self.shift_calibration else None,
            "test_metrics": self.test_metrics,
            "version": self.version,
            "source": self.source,
        }
        arrays, fields = [], []
        for name, values in self.sample.columns.items():
            categorical = self.sample.kinds[name] == "categorical"
            kind = pa.string() if categorical else pa.float64()
            arrays.append(pa.array(list(values) if categorical else values, kind))
            fields.append(pa.field(name, kind))
        schema = pa.schema(fields, metadata={PROFILE_KEY: json.dumps(summary).encode()})
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_arrays(arrays, schema=schema), buffer, compression="zstd")
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ReferenceProfile:
        table = pq.read_table(io.BytesIO(data))
        summary = json.loads((table.schema.metadata or {})[PROFILE_KEY])
        features = {f["name"]: FeatureProfile(**f) for f in summary["features"]}
        columns: dict[str, np.ndarray] = {}
        for name, feature in features.items():
            column = table.column(name)
            if feature.kind == "categorical":
                columns[name] = np.array(column.to_pylist(), dtype=object)
            else:
                columns[name] = column.to_numpy(zero_copy_only=False).astype(np.float64)
        outputs, calibration = summary["outputs"], summary["calibration"]
        shift = summary.get("shift_calibration")
        if shift is not None and "agreement" not in shift:
            shift = None  # the first, two-input grid (never landed): read as absent, so confidence alone
        return cls(
            task=summary["task"],
            rows=summary["rows"],
            features=features,
            sample=FeatureFrame(columns, {n: f.kind for n, f in features.items()}),
            sample_labels=summary.get("sample_labels"),
            outputs=OutputProfile(**outputs) if outputs else None,
            calibration=Calibration(**calibration) if calibration else None,
            shift_calibration=ShiftCalibration(**shift) if shift else None,
            test_metrics=summary["test_metrics"],
            version=summary["version"],
            source=summary["source"],
        )


def _numeric(name: str, values: np.ndarray) -> FeatureProfile:
    present = values[~np.isnan(values)]
    missing = 1.0 - len(present) / max(len(values), 1)
    if len(present) == 0:
        return FeatureProfile(name, "numeric", missing)
    quantiles = np.quantile(present, np.linspace(0, 1, BINS + 1))
    edges = np.unique(quantiles[1:-1])
    ordered = np.sort(present)
    cuts = np.searchsorted(ordered, edges, side="right")
    counts = np.diff(np.concatenate([[0], cuts, [len(ordered)]]))
    return FeatureProfile(
        name,
        "numeric",
        missing,
        low=float(ordered[0]),
        high=float(ordered[-1]),
        mean=float(present.mean()),
        std=float(present.std()),
        edges=[float(e) for e in edges],
        bins=[float(c) for c in counts / len(ordered)],
    )


def _categorical(name: str, values: np.ndarray) -> FeatureProfile:
    present = np.array([v for v in values if v is not None], dtype=object)
    missing = 1.0 - len(present) / max(len(values), 1)
    total = max(len(present), 1)
    shares: dict[str, float] = {}
    if len(present):
        found, counts = np.unique(present.astype(str), return_counts=True)
        shares = {str(c): float(n) / total for c, n in zip(found.tolist(), counts.tolist(), strict=True)}
    return FeatureProfile(name, "categorical", missing, categories=shares)


def _outputs(outputs: OutputFrame, task: str, rng: np.random.Generator) -> OutputProfile:
    if task == "classification":
        assert outputs.label is not None
        labels = outputs.label.astype(str)
        classes = list(outputs.classes) or sorted(set(labels))
        shares = {c: float(np.mean(labels == c)) if len(labels) else 0.0 for c in classes}
        return OutputProfile(task, len(labels), classes=classes, class_shares=shares)
    assert outputs.prediction is not None
    values = np.asarray(outputs.prediction, dtype=np.float64).reshape(len(outputs.prediction), -1)[:, 0]
    if len(values) > SAMPLE_ROWS:
        values = values[np.sort(rng.choice(len(values), SAMPLE_ROWS, replace=False))]
    return OutputProfile(task, len(outputs.prediction), values=[float(v) for v in values])


def fit_calibration(confidence: np.ndarray, correct: np.ndarray) -> Calibration:
    """Isotonic regression of `correct` (0/1) on `confidence`, increasing, clipped to [0, 1]."""
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    iso.fit(confidence.astype(np.float64), correct.astype(np.float64))
    return Calibration([float(v) for v in iso.X_thresholds_], [float(v) for v in iso.y_thresholds_])


def build_profile(
    train: FeatureFrame,
    *,
    test_outputs: OutputFrame | None,
    validation: tuple[OutputFrame, np.ndarray] | None,
    task: str,
    test_metrics: dict[str, Any],
    version: str = "",
    source: str = "",
    seed: int = 0,
    train_labels: np.ndarray | None = None,
) -> ReferenceProfile:
    """The profile of `train` (the training split as served: feature_frame of its rows, with
    `train_labels`, class names, for a classifier) and of the model's answers: `test_outputs` on the test
    split, `validation` = (answers on the validation split, the true labels as class names) for the
    calibration map (classifiers only)."""
    rng = np.random.default_rng(seed)
    features = {
        name: _numeric(name, values) if train.kinds[name] == "numeric" else _categorical(name, values)
        for name, values in train.columns.items()
    }
    rows = len(train)
    picked = np.arange(rows) if rows <= SAMPLE_ROWS else np.sort(rng.choice(rows, SAMPLE_ROWS, replace=False))
    sample = train if rows <= SAMPLE_ROWS else train.take(picked)
    labels = None
    if task == "classification" and train_labels is not None:
        labels = [str(v) for v in np.asarray(train_labels, dtype=object)[picked]]
    calibration = None
    if task == "classification" and validation is not None:
        answers, truth = validation
        if answers.probabilities is not None and answers.label is not None and len(truth):
            correct = answers.label.astype(str) == np.asarray(truth).astype(str)
            calibration = fit_calibration(answers.probabilities.max(axis=1), correct)
    return ReferenceProfile(
        task=task,
        rows=rows,
        features=features,
        sample=sample,
        sample_labels=labels,
        outputs=_outputs(test_outputs, task, rng) if test_outputs is not None else None,
        calibration=calibration,
        test_metrics=dict(test_metrics),
        version=version,
        source=source,
    )

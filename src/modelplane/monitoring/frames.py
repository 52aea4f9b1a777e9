"""Features and outputs as named 1-D columns: what the reference profile, drift, feedback and the log share.

A served batch is a float tensor (N, ...) or, for a model of named columns, a float matrix in training order
or the signature's structured rows (serving/tables.py). `feature_frame` turns any of them into one column
per feature, so the profile built from the training split and the window read back from the log name the
same features the same way: a table's column names, else `f0`, `f1`, ... over the flattened tensor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from modelplane.tables.signature import TableSignature

FeatureKind = Literal["numeric", "categorical"]
# Tensors wider than this (images) are logged whole, not one column per element, and have no per-feature
# drift: hundreds of per-pixel tests say nothing a person can act on.
MAX_FEATURES = 1024


@dataclass(frozen=True)
class FeatureFrame:
    """Rows of named features. Numeric columns are float64 (NaN = missing); categorical ones are object
    arrays of str (None = missing)."""

    columns: dict[str, np.ndarray]
    kinds: dict[str, FeatureKind]

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def take(self, rows: np.ndarray) -> FeatureFrame:
        return FeatureFrame({n: c[rows] for n, c in self.columns.items()}, dict(self.kinds))


@dataclass(frozen=True)
class OutputFrame:
    """What a model answered, one entry per row: a classifier's `label` (class names) and `probabilities`
    (N, classes) in `classes` order, or a regressor's `prediction` (N,) float64."""

    label: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    classes: list[str] = field(default_factory=list)
    prediction: np.ndarray | None = None

    @property
    def task(self) -> str:
        return "classification" if self.label is not None else "regression"


def feature_names(width: int) -> list[str]:
    return [f"f{i}" for i in range(width)]


def tensor_feature_names(width: int, table: TableSignature | None) -> list[str]:
    """The feature names of a tensor `width` wide: its signature's column names where they fit."""
    return list(table.names) if table is not None and len(table.names) == width else feature_names(width)


def feature_frame(x: np.ndarray, table: TableSignature | None = None) -> FeatureFrame:
    """One column per feature of a batch (see the module docstring); a tensor wider than `MAX_FEATURES`
    gives an empty frame."""
    if x.dtype.names is not None:
        assert table is not None, "structured rows need their signature"
        columns: dict[str, np.ndarray] = {}
        kinds: dict[str, FeatureKind] = {}
        for block in x.dtype.names:
            values = x[block]
            for j, column in enumerate(table.block(block)):
                if block == "categorical":
                    col = values[:, j].astype(object)
                    col[col == ""] = None  # the graph's "missing category" reads back as missing
                    columns[column.name], kinds[column.name] = col, "categorical"
                else:
                    columns[column.name], kinds[column.name] = values[:, j].astype(np.float64), "numeric"
        return FeatureFrame(columns, kinds)
    flat = x.reshape(len(x), -1)
    if flat.shape[1] > MAX_FEATURES:
        return FeatureFrame({}, {})
    names = tensor_feature_names(flat.shape[1], table)
    matrix = flat.astype(np.float64, copy=False)
    return FeatureFrame({n: matrix[:, i] for i, n in enumerate(names)}, dict.fromkeys(names, "numeric"))

"""Training on a table: the preprocessing is fitted on the training split only, then turns every split
into the float features the model learns from. Its ONNX graph is checked against scikit-learn on the test
split before anything is trained, and travels with the version (the `preprocess` artifact)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from modelplane.data.catalog import DatasetVersionInfo, load_table, table_values
from modelplane.data.splits import SplitConfig, split_indices
from modelplane.errors import Invalid
from modelplane.store import Store
from modelplane.tables.columns import feature_columns
from modelplane.training.config import PrepConfig

if TYPE_CHECKING:
    from modelplane.tables.prep import Preprocessor

SplitArrays = dict[str, tuple[np.ndarray, np.ndarray]]
PREP_ATOL = 1e-4


@dataclass(frozen=True)
class PreparedSplits:
    arrays: SplitArrays
    prep: Preprocessor
    max_abs_diff: float  # ONNX graph vs scikit-learn on the test split


def _rows(values: dict[str, np.ndarray], index: np.ndarray) -> dict[str, np.ndarray]:
    return {name: column[index] for name, column in values.items()}


def prepared_splits(
    store: Store, dataset: DatasetVersionInfo, split: SplitConfig, config: PrepConfig
) -> PreparedSplits:
    """Split a table's rows, fit its preprocessing on the training rows, transform every split."""
    from modelplane.tables.prep import PrepOptions, Preprocessor

    assert dataset.columns is not None
    table, target = load_table(store, dataset)
    if target is None:
        raise Invalid(f"dataset {dataset.ref} has no target column; re-add it with --target COLUMN")
    target = np.asarray(target)
    columns = feature_columns(dataset.columns)
    values = table_values(table, columns)
    indices = split_indices(target, split, stratify=dataset.task == "classification")
    train = indices["train"]
    prep, fitted = Preprocessor.fit_transform(
        _rows(values, train), columns, PrepOptions(**config.model_dump())
    )
    arrays = {"train": (fitted, target[train])}
    for name in ("validation", "test"):
        arrays[name] = (prep.reference_transform(_rows(values, indices[name])), target[indices[name]])
    # The graph every later stage runs, checked against scikit-learn on rows it was not fitted on.
    test_values = _rows(values, indices["test"])
    diff = prep.verify(test_values, atol=PREP_ATOL, reference=arrays["test"][0])
    return PreparedSplits(arrays, prep, diff)


def write_prep(prep: Preprocessor, folder: Path) -> Path:
    """The fitted preprocessing as the JSON file a version stores (no pickle)."""
    path = folder / "preprocess.json"
    path.write_text(json.dumps(prep.to_json(), sort_keys=True))
    return path

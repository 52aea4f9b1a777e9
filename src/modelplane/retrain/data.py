"""The rows a retrain works on: which rows of the new dataset version are new since production's data, the
fine-tuning set (new training rows plus a seeded replay sample of old ones), and the full validation and
test splits.

Splits come from production's recorded split config. A row keeps its split key when rows are appended
(data/splits.py), but the per-class cut points move with the counts, so a few rows near a cut change split;
rows production trained on are therefore dropped from the test split. Candidate and production are scored
on exactly the same held-out rows, none of which either of them was fitted on.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from sqlalchemy.orm import Session

from modelplane.data.catalog import DatasetVersionInfo
from modelplane.data.splits import SplitConfig, split_indices
from modelplane.errors import Invalid
from modelplane.registry.loading import labels_to_model_indices
from modelplane.registry.tables import model_inputs
from modelplane.registry.views import ModelVersionInfo
from modelplane.store import Store
from modelplane.store.orm import DatasetVersion

Arrays = tuple[np.ndarray, np.ndarray]


def check_dataset(production: ModelVersionInfo, dataset: DatasetVersionInfo) -> None:
    """Refuse data the model cannot read or be scored on (a table's columns are checked by name when its
    rows are loaded)."""
    if dataset.columns is None and list(dataset.feature_shape) != production.input_shape:
        raise Invalid(
            f"dataset {dataset.ref} has feature shape {dataset.feature_shape} but "
            f"{production.model}@production ({production.ref}) takes inputs of shape "
            f"{production.input_shape}; watch a dataset with the model's inputs"
        )
    if dataset.task != production.task or dataset.target_sha is None:
        raise Invalid(
            f"dataset {dataset.ref} has no {production.task} target, but {production.ref} is a "
            f"{production.task} model; watch a dataset labelled for it"
        )
    if production.task == "classification" and production.classes and dataset.classes:
        unknown = [c for c in dataset.classes if c not in production.classes]
        if unknown:
            raise Invalid(
                f"dataset {dataset.ref} has classes {', '.join(unknown)} that {production.ref} cannot "
                "predict; retraining keeps the model's outputs, so train a new model for new classes"
            )


@dataclass(frozen=True)
class NewRows:
    """Rows from `start` on are new (None: there are none), and how that was decided."""

    start: int | None
    note: str


def find_new_rows(session: Session, production: ModelVersionInfo, target: DatasetVersion) -> NewRows:
    """Walk the target's parents back to the version production was trained on: when every step appended
    rows, the rows past production's are new; when the chain breaks, every row is."""
    ref = f"{target.dataset.name}@{target.version}"
    if production.dataset is None:
        return NewRows(0, f"{production.ref} records no training data: every row of {ref} counts as new")
    if production.dataset == ref:
        return NewRows(None, f"{ref} is the data {production.ref} was trained on: no new rows")
    walk: DatasetVersion | None = target
    while walk is not None and f"{walk.dataset.name}@{walk.version}" != production.dataset:
        extends = walk.parent_id is not None and walk.new_rows_start > 0
        walk = session.get(DatasetVersion, walk.parent_id) if extends else None
    if walk is None:
        return NewRows(
            0,
            f"{ref} does not extend {production.dataset} (the data of {production.ref}) by appended rows: "
            "every row counts as new",
        )
    if target.num_rows <= walk.num_rows:
        return NewRows(None, f"{ref} has no rows beyond {production.dataset}, the data of {production.ref}")
    return NewRows(
        walk.num_rows,
        f"rows {walk.num_rows}-{target.num_rows - 1} of {ref} are new since {production.dataset}",
    )


@dataclass(frozen=True)
class RetrainData:
    dataset: DatasetVersionInfo  # with the model's class names, which the labels index
    split: SplitConfig
    arrays: dict[str, Arrays]  # "train": the rows to fit on; "validation", "test": the full splits
    counts: dict[str, int]  # new, new_train, replay, old_train, fit
    note: str


@dataclass(frozen=True)
class NothingToFit:
    """New rows arrived but none can be trained on; the firing ends as a no-op for this reason."""

    reason: str


def load_rows(
    store: Store,
    production: ModelVersionInfo,
    dataset: DatasetVersionInfo,
    new: NewRows,
    *,
    replay: float | None,
) -> RetrainData | NothingToFit:
    """The data to retrain on, or why there is nothing to do. `replay` None: fit on every training row (a
    model refitted from scratch); else the new training rows plus that fraction of the old ones."""
    assert new.start is not None
    check_dataset(production, dataset)
    split = SplitConfig(**production.params.get("split", {}))
    # A table is read through production's own preprocessing, kept by the new version.
    features, target_values = model_inputs(store, production, dataset, encoded=True)
    assert target_values is not None  # check_dataset
    labels = np.asarray(target_values)
    indices = split_indices(labels, split, stratify=production.task == "classification")
    train = indices["train"]
    new_train, old_train = train[train >= new.start], train[train < new.start]
    if new.start > 0:  # production's own split of the rows it saw: none of its training rows is a test row
        before = split_indices(labels[: new.start], split, stratify=production.task == "classification")
        indices["test"] = np.setdiff1d(indices["test"], before["train"])
    counts = {"new": dataset.num_rows - new.start, "new_train": len(new_train), "old_train": len(old_train)}
    if replay is None:
        fit, counts["replay"] = train, 0
    else:
        if len(new_train) == 0:
            return NothingToFit(
                f"the {counts['new']} new row(s) all fell in the validation and test splits, so there is "
                "nothing new to train on; it retrains when more rows arrive"
            )
        picked = np.random.default_rng(split.seed).permutation(old_train)[: round(replay * len(old_train))]
        fit = np.sort(np.concatenate([new_train, picked]))
        counts["replay"] = len(picked)
    counts["fit"] = len(fit)

    def rows(index: np.ndarray) -> Arrays:
        y = labels_to_model_indices(production, labels[index], dataset.classes)
        return np.asarray(features[index]), y

    arrays = {"train": rows(fit), "validation": rows(indices["validation"]), "test": rows(indices["test"])}
    seen = dataclasses.replace(dataset, classes=production.classes) if production.classes else dataset
    return RetrainData(seen, split, arrays, counts, new.note)

"""The data a compression works on: the source version's dataset, cut by the source's own split.

Reusing the recorded split means a compressed version is calibrated/fine-tuned on rows its parent trained
on and scored on the parent's held-out test rows, so the two sets of metrics compare like for like.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelplane.data.catalog import DatasetVersionInfo, describe, find_version_row
from modelplane.data.splits import SplitConfig, split_indices
from modelplane.errors import Invalid
from modelplane.refs import Ref
from modelplane.registry.loading import labels_to_model_indices
from modelplane.registry.tables import model_inputs
from modelplane.registry.views import ModelVersionInfo
from modelplane.store import Store

SplitArrays = dict[str, tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class SourceData:
    dataset: DatasetVersionInfo
    dataset_version_id: int
    split: SplitConfig

    def arrays(self, store: Store, info: ModelVersionInfo) -> SplitArrays:
        """Features and targets per split, labels in `info`'s class order (loaded after the checks)."""
        features, target = model_inputs(store, info, self.dataset, encoded=True)
        assert target is not None  # resolve_data refused a dataset without one
        indices = split_indices(np.asarray(target), self.split, stratify=info.task == "classification")
        classes = self.dataset.classes
        return {
            name: (
                np.asarray(features[rows]),
                labels_to_model_indices(info, np.asarray(target[rows]), classes),
            )
            for name, rows in indices.items()
        }

    def as_model_sees_it(self, info: ModelVersionInfo) -> DatasetVersionInfo:
        """The dataset with the model's class names, which are what the remapped labels index."""
        return dataclasses.replace(self.dataset, classes=info.classes) if info.classes else self.dataset


def resolve_data(store: Store, info: ModelVersionInfo, data_ref: str | None) -> SourceData:
    """The dataset version to use (`data_ref`, else the one `info` was trained on), checked against it."""
    ref = data_ref or info.dataset
    if ref is None:
        raise Invalid(
            f"{info.ref} records no training dataset; say which data to use with --data NAME[@VERSION]"
        )
    with store.db.session() as session:
        row = find_version_row(session, Ref.parse(ref, "dataset"))
        dataset, row_id = describe(session, row), row.id
    if dataset.task != info.task or dataset.target_sha is None:
        raise Invalid(f"{info.ref} is a {info.task} model but {dataset.ref} has no {info.task} target")
    _check_classes(info, dataset)
    split: dict[str, Any] = info.params.get("split", {})
    return SourceData(dataset, row_id, SplitConfig(**split))


def _check_classes(info: ModelVersionInfo, dataset: DatasetVersionInfo) -> None:
    if info.task != "classification" or info.classes is None or dataset.classes is None:
        return
    unknown = [c for c in dataset.classes if c not in info.classes]
    if unknown:
        raise Invalid(
            f"{dataset.ref} has classes {', '.join(unknown)} that {info.ref} never saw; use data with the "
            "model's classes"
        )

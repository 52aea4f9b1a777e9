"""Test metrics at import: the imported graph on the test split of a dataset version, as trained versions
are scored on theirs (the same split rule, so `modelplane evaluate` later reads the same rows)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from modelplane.data.catalog import describe, find_version_row, load_arrays
from modelplane.data.splits import SplitConfig, split_indices
from modelplane.errors import Invalid
from modelplane.refs import Ref
from modelplane.registry.imports.imported import Imported
from modelplane.registry.imports.samples import shaped
from modelplane.store import Store


@dataclass(frozen=True)
class ImportEvaluation:
    metrics: dict[str, Any]
    split: dict[str, Any]
    dataset_version_id: int
    classes: list[str] | None


def evaluate_import(store: Store, made: Imported, data_ref: str) -> ImportEvaluation:
    from modelplane.evaluation.report import evaluate
    from modelplane.runtimes.onnx_runtime import OnnxRuntime

    with store.db.session() as session:
        row = find_version_row(session, Ref.parse(data_ref, "dataset"))
        dataset, dataset_version_id = describe(session, row), row.id
    if dataset.task != made.task:
        raise Invalid(f"the model is a {made.task} model but {dataset.ref} is a {dataset.task} dataset")
    if dataset.columns is not None and any(c.role != "numeric" for c in dataset.columns):
        raise Invalid(
            f"{dataset.ref} has non-numeric columns, which an imported model cannot read without its "
            "preprocessing; evaluate on numeric features"
        )
    features, target = load_arrays(store, dataset)
    if target is None:
        raise Invalid(f"dataset {dataset.ref} has no target column to evaluate against")
    x = shaped(np.asarray(features).reshape(len(features), -1), made.input_shape, name=dataset.ref)
    config = SplitConfig()
    rows = split_indices(np.asarray(target), config, stratify=made.task == "classification")["test"]
    y = np.asarray(target[rows])
    classes = made.classes
    if made.task == "classification":
        if classes is not None and dataset.classes is not None and list(classes) != list(dataset.classes):
            position = {c: i for i, c in enumerate(classes)}
            unknown = [c for c in dataset.classes if c not in position]
            if unknown:
                raise Invalid(
                    f"{dataset.ref} has classes {', '.join(unknown[:5])} the model does not name; give "
                    "--classes in the model's output order"
                )
            y = np.array([position[c] for c in dataset.classes])[y]
        if classes is None and dataset.classes is not None and len(dataset.classes) == made.num_outputs:
            classes = list(dataset.classes)
    source = made.onnx_path or made.weights_path
    report = evaluate(OnnxRuntime(source), x[rows], y, task=made.task, class_names=classes, latency_samples=0)
    return ImportEvaluation(report.metrics, config.to_dict(), dataset_version_id, classes)

"""Evaluate a registered version on a split of any compatible dataset version."""

from __future__ import annotations

import numpy as np

from modelplane.data.catalog import get_version as get_dataset_version
from modelplane.data.splits import SPLITS, SplitConfig, split_indices
from modelplane.errors import Invalid
from modelplane.evaluation.report import EvaluationReport, evaluate
from modelplane.registry.loading import labels_to_model_indices, load_runtime
from modelplane.registry.registry import get_version
from modelplane.registry.tables import model_inputs
from modelplane.store import Store


def evaluate_version(
    store: Store, model_ref: str, data_ref: str, *, split: str = "test", runtime: str = "onnx"
) -> EvaluationReport:
    """Metrics of `model_ref` on `split` of `data_ref`, through the runtime serving would use ("onnx": ONNX
    Runtime where the version has its graph, else native) or the runtime named (native, torchscript, ...)."""
    if split not in (*SPLITS, "all"):
        raise Invalid(f"unknown split {split!r}; use one of {', '.join(SPLITS)} or all")
    info = get_version(store, model_ref)
    dataset = get_dataset_version(store, data_ref)
    if dataset.task != info.task:
        raise Invalid(f"{info.ref} is a {info.task} model but {dataset.ref} is a {dataset.task} dataset")
    features, target = model_inputs(store, info, dataset)
    if target is None:
        raise Invalid(f"dataset {dataset.ref} has no target column to evaluate against")
    if split == "all":
        rows = np.arange(dataset.num_rows)
    else:
        split_config = SplitConfig(**info.params.get("split", {}))
        rows = split_indices(np.asarray(target), split_config, stratify=info.task == "classification")[split]
    y = labels_to_model_indices(info, np.asarray(target[rows]), dataset.classes)
    return evaluate(
        load_runtime(store, info, None if runtime == "onnx" else runtime),
        np.asarray(features[rows]),
        y,
        task=info.task,
        class_names=info.classes,
    )
